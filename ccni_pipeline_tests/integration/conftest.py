"""A full run of edition 2022 on the real source files, in a temporary lake."""

import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ccni_pipeline.instance import prepare_dagster_home
from ccni_pipeline.run import RunSummary, run_edition
from ccni_pipeline.sources.fetch import fetch_sources
from ccni_pipeline.sources.manifest import load_manifest


class EditionRun:
    """What a test needs from one run: the lake, the summary, the exports."""

    def __init__(self, lake: Path, summary: RunSummary):
        self.lake = lake
        self.summary = summary
        exports = lake / "exports" / str(summary.edition)
        self.scores = pd.read_csv(exports / "scores.csv", dtype={"city_code": str})
        self.indicators = pd.read_csv(
            exports / "indicators.csv", dtype={"city_code": str}
        )

    def query(self, sql: str, parameters: dict | None = None) -> pd.DataFrame:
        with duckdb.connect(str(self.lake / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(sql, parameters or {}).df()

    def indicator(self, city_code: str, indicator_id: str) -> pd.Series:
        rows = self.indicators[
            (self.indicators["city_code"] == city_code)
            & (self.indicators["indicator_id"] == indicator_id)
        ]
        assert len(rows) == 1, f"expected one {indicator_id} row for {city_code}"
        return rows.iloc[0]


def run_in_lake(lake: Path, mirror: Path, manifest: Path | None = None) -> EditionRun:
    """Fetch the sources into `lake` and run edition 2022 there."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCNI_DATA_LAKE", str(lake))
        patch.setenv("DAGSTER_HOME", str(lake / "dagster_home"))
        if manifest is not None:
            patch.setenv("CCNI_MANIFEST", str(manifest))
        prepare_dagster_home()
        fetch_sources(load_manifest(), mirror=mirror)
        summary = run_edition(2022)
        assert summary.succeeded, summary.render()
        with dg.DagsterInstance.get() as instance:
            records = instance.get_run_records()
            assert records, "the run is not recorded in the lake's Dagster instance"
        return EditionRun(lake, summary)


@pytest.fixture(scope="session")
def edition_2022(tmp_path_factory, real_dir) -> EditionRun:
    lake = tmp_path_factory.mktemp("lake")
    assert os.environ.get("CCNI_MANIFEST") is None
    return run_in_lake(lake, real_dir)
