"""The Dagster code location: assets, checks, resources, jobs, schedule and sensor."""

import dagster as dg

from ccni_pipeline.assets.checks import ALL_CHECKS
from ccni_pipeline.assets.core import core_city_values, ref_cities
from ccni_pipeline.assets.exports import out_edition_summary, out_exports
from ccni_pipeline.assets.raw import RAW_ASSETS
from ccni_pipeline.assets.scores import SCORE_ASSETS
from ccni_pipeline.operations import SCHEDULES, SENSORS
from ccni_pipeline.resources import MethodResource, WarehouseResource

ALL_ASSETS = [
    *RAW_ASSETS,
    ref_cities,
    core_city_values,
    *SCORE_ASSETS,
    out_edition_summary,
    out_exports,
]

edition_job = dg.define_asset_job(
    name="edition_job",
    selection=dg.AssetSelection.all(),
    description="Materialise every asset of one index edition, raw files to exports.",
)

scores_job = dg.define_asset_job(
    name="scores_job",
    selection=dg.AssetSelection.groups("scores"),
    description=(
        "Recompute the indicator and score assets of one edition from the core "
        "tables already in the warehouse (for backfills of further editions)."
    ),
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=[edition_job, scores_job],
    schedules=SCHEDULES,
    sensors=SENSORS,
    # Every step writes the one DuckDB file, which takes one writer at a time, so
    # runs from the UI or daemon execute their steps in one process, in order.
    executor=dg.in_process_executor,
    resources={
        "warehouse": WarehouseResource(
            path=dg.EnvVar("CCNI_WAREHOUSE").get_value("") or ""
        ),
        "method": MethodResource(path=""),
    },
)
