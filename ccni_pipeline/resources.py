"""Dagster resources: the warehouse and the method, configured from the environment."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from ccni_pipeline import lake, warehouse
from ccni_pipeline.method.config import Method, load_method


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse file; empty path = `warehouse.duckdb` in the lake.

    A writing connection holds the lake's write lock unless this process holds it
    already (a `ccni` command does for its whole run), so runs started by the
    Dagster daemon in other processes wait instead of failing on DuckDB's lock.
    """

    path: str = ""
    lock_wait_seconds: float = 3600

    def file(self) -> Path:
        return Path(self.path) if self.path else lake.warehouse_path()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only or lake.holds_write_lock():
            with warehouse.connect(self.file(), read_only=read_only) as connection:
                yield connection
            return
        with lake.write_lock(self.lock_wait_seconds):
            with warehouse.connect(self.file()) as connection:
                yield connection


class MethodResource(ConfigurableResource):
    """The method file; empty path = the project's default method."""

    path: str = ""

    def load(self) -> Method:
        return load_method(self.path or None)
