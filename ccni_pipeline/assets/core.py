"""Core assets: reference tables and the validated, keyed city and province values."""

import logging
from pathlib import Path

import dagster as dg
import pandas as pd

from ccni_pipeline.assets.metadata import (
    column_lineage,
    preview,
    table_metadata,
    table_schema,
)
from ccni_pipeline.assets.raw import OWNERS, RAW_ASSETS
from ccni_pipeline.cities import crosswalk
from ccni_pipeline.core.build import build_core
from ccni_pipeline.resources import WarehouseResource
from ccni_pipeline.warehouse import replace_table

logger = logging.getLogger(__name__)

CORE_GROUP = "core"
RAW_NAMES = [asset.key.path[-1] for asset in RAW_ASSETS]
CORE_DESCRIPTIONS = {
    "city_code": "6-digit GB/T 2260 division code",
    "variable": "variable name, unit in the name",
    "raw_row_id": "id of the source cell in raw.cells",
    "resolution": "how the city name or code was resolved",
}
PILOT_PROVINCES = (
    Path(__file__).resolve().parent.parent / "reference" / "pilot_provinces.csv"
)


def _reference_tables() -> dict[str, pd.DataFrame]:
    pilots = pd.read_csv(PILOT_PROVINCES, dtype={"province_code": str})
    cities = crosswalk.load_cities()
    for column in ("valid_from", "valid_to"):
        cities[column] = pd.to_numeric(cities[column].replace("", None)).astype("Int64")
    return {
        "ref.cities": cities,
        "ref.aliases": crosswalk.load_aliases(),
        "ref.provinces": crosswalk.load_provinces(),
        "ref.boundary_changes": crosswalk.load_boundary_changes(),
        "ref.pilot_provinces": pilots,
    }


@dg.asset(
    group_name=CORE_GROUP,
    kinds={"duckdb", "csv"},
    owners=OWNERS,
    code_version="1",
    tags={"layer": "core"},
)
def ref_cities(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """City crosswalk: division codes, Chinese and English names, aliases, boundary
    changes, and the low-carbon pilot provinces, from the project's curated files."""
    tables = _reference_tables()
    with warehouse.connect() as connection:
        counts = {
            name: replace_table(connection, name, frame)
            for name, frame in tables.items()
        }
    cities = tables["ref.cities"]
    return dg.MaterializeResult(
        metadata={
            **table_metadata(cities),
            **{f"rows {name}": count for name, count in counts.items()},
        }
    )


@dg.asset(
    group_name=CORE_GROUP,
    kinds={"duckdb", "sql"},
    owners=OWNERS,
    code_version="1",
    deps=[ref_cities, *RAW_ASSETS],
    tags={"layer": "core"},
)
def core_city_values(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """City and province values keyed by 6-digit division code, year, variable and
    source; every raw cell that does not reach them is in core.rejected_rows."""
    with warehouse.connect() as connection:
        counts = build_core(connection)
        by_source = connection.execute(
            """
            SELECT source_id, count(*) AS rows, count(DISTINCT city_code) AS cities,
                   min(year) AS first_year, max(year) AS last_year
            FROM core.city_values GROUP BY source_id ORDER BY source_id
            """
        ).df()
        rejected = connection.execute(
            "SELECT stage, count(*) AS rows FROM core.rejected_rows "
            "GROUP BY stage ORDER BY stage"
        ).df()
        sample = connection.execute(
            "SELECT * FROM core.city_values USING SAMPLE 5 ROWS (reservoir, 42)"
        ).df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts["core.city_values"],
            "rows core.province_values": counts["core.province_values"],
            "rows core.rejected_rows": counts["core.rejected_rows"],
            "by source": dg.MetadataValue.md(by_source.to_markdown(index=False)),
            "rejected by stage": dg.MetadataValue.md(rejected.to_markdown(index=False)),
            "dagster/column_schema": table_schema(sample, CORE_DESCRIPTIONS),
            "preview": preview(sample),
            "dagster/column_lineage": column_lineage(
                {
                    "city_code": [("ref_cities", "city_code")]
                    + [(raw, "city_name") for raw in RAW_NAMES]
                    + [(raw, "source_city_code") for raw in RAW_NAMES],
                    "year": [(raw, "year") for raw in RAW_NAMES],
                    "variable": [(raw, "variable") for raw in RAW_NAMES],
                    "value": [(raw, "value") for raw in RAW_NAMES],
                    "raw_row_id": [(raw, "raw_row_id") for raw in RAW_NAMES],
                }
            ),
        }
    )
