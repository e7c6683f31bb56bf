"""The DuckDB warehouse: connections, schemas and the writes every asset uses.

One file, one writer at a time (DuckDB's rule). Assets write through
`replace_rows`, which swaps the rows of one key (a source, an edition and method)
inside one transaction, so a rerun never leaves a half-written table and other
keys stay untouched. Values always go in as parameters or registered frames;
table and column names come only from constants in this package.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from ccni_pipeline.faults import pause_point

logger = logging.getLogger(__name__)

SCHEMAS = ("raw", "ref", "core", "out")
SQL_DIR = Path(__file__).with_name("sql")


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, creating its schemas when writable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        if not read_only:
            for schema in SCHEMAS:
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield connection
    finally:
        connection.close()


def read_sql(name: str) -> str:
    """Return a SQL file under ccni_pipeline/sql, e.g. 'scores/compare.sql'."""
    return (SQL_DIR / name).read_text(encoding="utf-8")


def replace_table(
    connection: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame
) -> int:
    """Replace a whole table with the rows of `frame`; return the row count."""
    connection.register("incoming_frame", frame)
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM incoming_frame"
        )
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("incoming_frame")
    return len(frame)


def replace_rows(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    key: dict[str, object],
) -> int:
    """Swap the rows of `table` matching `key` for the rows of `frame`, atomically.

    The table is created from the frame's columns when it does not exist yet. Key
    values are bound as parameters.
    """
    connection.register("incoming_frame", frame)
    where = " AND ".join(f"{column} = ?" for column in key)
    try:
        connection.execute("BEGIN TRANSACTION")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table} AS "
            "SELECT * FROM incoming_frame WITH NO DATA"
        )
        _add_missing_columns(connection, table)
        connection.execute(f"DELETE FROM {table} WHERE {where}", list(key.values()))
        connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_frame")
        if table.startswith("out."):
            pause_point("score_write")
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    finally:
        connection.unregister("incoming_frame")
    logger.info("wrote %d rows to %s for %s", len(frame), table, key)
    return len(frame)


def _add_missing_columns(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    """Add to `table` the columns of `incoming_frame` it lacks (newer code)."""
    schema, name = table.split(".")
    existing = {
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    incoming = connection.execute("DESCRIBE incoming_frame").fetchall()
    for column_name, column_type, *_ in incoming:
        if column_name not in existing:
            logger.info("adding column %s %s to %s", column_name, column_type, table)
            connection.execute(
                f'ALTER TABLE {table} ADD COLUMN "{column_name}" {column_type}'
            )
