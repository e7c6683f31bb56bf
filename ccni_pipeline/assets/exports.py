"""The export asset: scores.csv and indicators.csv of one edition, for people to read.

Files are written to a temporary name in the same folder and renamed into place,
so a reader never sees a half-written export.
"""

import logging
import os
from pathlib import Path

import dagster as dg
import pandas as pd

from ccni_pipeline import lake
from ccni_pipeline.assets.metadata import table_metadata
from ccni_pipeline.assets.raw import OWNERS
from ccni_pipeline.assets.scores import (
    EDITIONS,
    SCORES_GROUP,
    out_composite_scores,
    out_indicator_values,
)
from ccni_pipeline.faults import pause_point
from ccni_pipeline.lineage.output_manifest import (
    source_entries_in_warehouse,
    write_output_manifest,
)
from ccni_pipeline.method.config import Method, is_default
from ccni_pipeline.method.indicators import edition_summary
from ccni_pipeline.resources import MethodResource, WarehouseResource
from ccni_pipeline.sources.manifest import load_manifest
from ccni_pipeline.warehouse import replace_rows

logger = logging.getLogger(__name__)

# Rounding of exported numbers; the warehouse keeps full precision.
SCORE_DECIMALS = 4
WEIGHT_DECIMALS = 6
VALUE_DECIMALS = 8

INDICATOR_EXPORT_COLUMNS = [
    "city_code",
    "indicator_id",
    "data_year",
    "window_start",
    "value",
    "unit",
    "detail",
    "score",
    "nominal_weight",
    "applied_weight",
    "is_proxy",
    "is_missing",
    "reason",
]


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` to `path` through a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lake.remove_stale_temporaries(path)
    temporary = lake.temporary_path(path, "tmp")
    try:
        frame.to_csv(temporary, index=False, encoding="utf-8")
        pause_point("export_write")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def scores_frame(connection, edition: int, method: Method) -> pd.DataFrame:
    """Return one row per rated city: names, dimensions, composite, coverage, rank."""
    key = {"edition": edition, "method_id": method.id}
    composite = connection.execute(
        """
        SELECT c.city_code, r.name_zh AS city_name_zh, r.name_en AS city_name_en,
               p.name_en AS province, c.composite, c.coverage, c.rank
        FROM out.composite_scores AS c
        JOIN ref.cities AS r USING (city_code)
        LEFT JOIN ref.provinces AS p ON p.province_code = r.province_code
        WHERE c.edition = $edition AND c.method_id = $method_id
        """,
        key,
    ).df()
    dimensions = connection.execute(
        """
        SELECT city_code, dimension_id, score FROM out.dimension_scores
        WHERE edition = $edition AND method_id = $method_id
        """,
        key,
    ).df()
    wide = dimensions.pivot(index="city_code", columns="dimension_id", values="score")
    dimension_ids = [dimension.id for dimension in method.tree]
    wide = wide.reindex(columns=dimension_ids).reset_index()
    frame = composite.merge(wide, on="city_code", how="left")
    frame["method_id"] = method.id
    columns = [
        "city_code",
        "city_name_zh",
        "city_name_en",
        "province",
        *dimension_ids,
        "composite",
        "coverage",
        "rank",
        "method_id",
    ]
    frame = frame[columns].round(
        {c: SCORE_DECIMALS for c in [*dimension_ids, "composite"]}
    )
    frame["coverage"] = frame["coverage"].round(WEIGHT_DECIMALS)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame.sort_values(["rank", "city_code"], na_position="last").reset_index(
        drop=True
    )


def indicators_frame(connection, edition: int, method: Method) -> pd.DataFrame:
    frame = connection.execute(
        """
        SELECT * FROM out.indicator_scores
        WHERE edition = $edition AND method_id = $method_id
        ORDER BY city_code, indicator_id
        """,
        {"edition": edition, "method_id": method.id},
    ).df()
    frame["data_year"] = frame["data_year"].astype("Int64")
    frame["window_start"] = frame["window_start"].astype("Int64")
    frame["unit"] = frame["unit"].fillna(frame["default_unit"])
    frame["detail"] = frame["detail"].fillna("")
    frame = frame.round(
        {
            "value": VALUE_DECIMALS,
            "score": SCORE_DECIMALS,
            "nominal_weight": WEIGHT_DECIMALS,
            "applied_weight": WEIGHT_DECIMALS,
        }
    )
    return frame[INDICATOR_EXPORT_COLUMNS]


@dg.asset(
    partitions_def=EDITIONS,
    group_name=SCORES_GROUP,
    kinds={"duckdb", "sql"},
    owners=OWNERS,
    code_version="1",
    deps=[out_indicator_values],
    tags={"layer": "out"},
)
def out_edition_summary(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.MaterializeResult:
    """Aggregates across the rated cities (mean change of carbon intensity, mean CO2
    growth, decoupling-state shares, top-ten emitters' share, cities flagged for
    missing clean-energy data) beside the published report's figures."""
    loaded = method.load()
    edition = int(context.partition_key)
    key = {"edition": edition, "method_id": loaded.id}
    with warehouse.connect() as connection:
        summary = edition_summary(connection, loaded, edition)
        stamped = summary.copy()
        stamped.insert(0, "method_id", loaded.id)
        stamped.insert(0, "edition", edition)
        replace_rows(connection, "out.edition_summary", stamped, key)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                summary,
                {
                    "value": [
                        ("out_indicator_values", "value"),
                        ("out_indicator_values", "category"),
                    ]
                },
            ),
            "summary": dg.MetadataValue.md(summary.to_markdown(index=False)),
            "method_id": loaded.id,
        }
    )


@dg.asset(
    partitions_def=EDITIONS,
    group_name=SCORES_GROUP,
    kinds={"csv"},
    owners=OWNERS,
    code_version="1",
    deps=[out_composite_scores, out_edition_summary],
    tags={"layer": "out"},
)
def out_exports(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.MaterializeResult:
    """scores.csv (one row per city) and indicators.csv (one row per city and
    indicator) under exports/<edition>/ in the lake."""
    loaded = method.load()
    edition = int(context.partition_key)
    with warehouse.connect() as connection:
        scores = scores_frame(connection, edition, loaded)
        indicators = indicators_frame(connection, edition, loaded)
        summary = connection.execute(
            "SELECT metric, value, published, cities, definition "
            "FROM out.edition_summary WHERE edition = $edition AND method_id = $m",
            {"edition": edition, "m": loaded.id},
        ).df()
        summary["value"] = summary["value"].round(VALUE_DECIMALS)
        entries = source_entries_in_warehouse(connection, load_manifest())
    folder = lake.exports_dir(edition, None if is_default(loaded) else loaded.id)
    write_csv_atomically(scores, folder / "scores.csv")
    write_csv_atomically(indicators, folder / "indicators.csv")
    write_csv_atomically(summary, folder / "summary.csv")
    manifest_path = write_output_manifest(
        folder,
        edition,
        loaded,
        context.run.run_id,
        entries,
        [folder / "scores.csv", folder / "indicators.csv", folder / "summary.csv"],
    )
    context.log.info(
        f"wrote {len(scores)} cities and {len(indicators)} indicator rows to {folder}"
    )
    dimension_ids = [dimension.id for dimension in loaded.tree]
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                scores,
                {
                    "composite": [("out_composite_scores", "composite")],
                    "coverage": [("out_composite_scores", "coverage")],
                    "rank": [("out_composite_scores", "rank")],
                    **{d: [("out_dimension_scores", "score")] for d in dimension_ids},
                },
            ),
            "scores.csv": dg.MetadataValue.path(str(folder / "scores.csv")),
            "indicators.csv": dg.MetadataValue.path(str(folder / "indicators.csv")),
            "ranked cities": int(scores["rank"].notna().sum()),
            "top 10": dg.MetadataValue.md(scores.head(10).to_markdown(index=False)),
            "method_id": loaded.id,
            "method_hash": loaded.content_hash,
            "manifest.json": dg.MetadataValue.path(str(manifest_path)),
        }
    )
