"""Output assets of one edition: indicator values, indicator scores, group,
dimension and composite scores. Each is partitioned by edition and replaces only
its own edition's and method's rows."""

import json
import logging
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from ccni_pipeline.assets.core import core_city_values, ref_cities
from ccni_pipeline.assets.metadata import table_metadata
from ccni_pipeline.assets.raw import OWNERS
from ccni_pipeline.method.config import load_method
from ccni_pipeline.method.indicators import compute_indicator_values
from ccni_pipeline.method.scores import (
    composite_scores,
    dimension_scores,
    group_scores,
    normalise,
    score_tree,
)
from ccni_pipeline.resources import MethodResource, WarehouseResource
from ccni_pipeline.warehouse import replace_rows

logger = logging.getLogger(__name__)

SCORES_GROUP = "scores"
VALUES_LINEAGE = {
    "city_code": [("core_city_values", "city_code")],
    "value": [("core_city_values", "value")],
    "data_year": [("core_city_values", "year")],
}
SCORES_LINEAGE = {
    "value": [("out_indicator_values", "value")],
    "score": [("out_indicator_values", "value"), ("out_indicator_values", "category")],
    "lower_bound": [("out_indicator_values", "value")],
    "upper_bound": [("out_indicator_values", "value")],
}
EDITIONS = dg.StaticPartitionsDefinition(
    [str(edition) for edition in sorted(load_method().editions)]
)


def _key(context: dg.AssetExecutionContext, method_id: str) -> dict[str, object]:
    return {"edition": int(context.partition_key), "method_id": method_id}


def _stamp(frame: pd.DataFrame, key: dict[str, object], method) -> pd.DataFrame:
    """Prefix the key columns and the hash of the method that made the rows."""
    frame = frame.copy()
    frame.insert(0, "method_hash", method.content_hash)
    frame.insert(0, "method_id", key["method_id"])
    frame.insert(0, "edition", key["edition"])
    return frame


def _method_metadata(method) -> dict[str, object]:
    return {
        "method_id": method.id,
        "method_hash": method.content_hash,
        "method": dg.MetadataValue.json(method.model_dump(mode="json")),
    }


def record_method(connection, method) -> None:
    """Store the method's content under its id and hash in out.methods."""
    frame = pd.DataFrame(
        [
            {
                "method_id": method.id,
                "method_hash": method.content_hash,
                "title": method.title,
                "content_json": json.dumps(
                    method.model_dump(mode="json"), sort_keys=True
                ),
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        ]
    )
    key = {"method_id": method.id, "method_hash": method.content_hash}
    replace_rows(connection, "out.methods", frame, key)


def _read(
    warehouse: WarehouseResource, table: str, key: dict[str, object]
) -> pd.DataFrame:
    with warehouse.connect(read_only=False) as connection:
        return connection.execute(
            f"SELECT * EXCLUDE (edition, method_id, method_hash) FROM {table} "
            "WHERE edition = $edition AND method_id = $method_id",
            key,
        ).df()


@dg.asset(
    partitions_def=EDITIONS,
    group_name=SCORES_GROUP,
    kinds={"duckdb", "sql"},
    owners=OWNERS,
    code_version="1",
    deps=[core_city_values, ref_cities],
    tags={"layer": "out"},
)
def out_indicator_values(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.MaterializeResult:
    """Raw values of the 14 indicators for every rated city of the edition, with
    data year, window, detail, proxy and missing flags, and the raw cell ids each
    value was computed from."""
    loaded = method.load()
    key = _key(context, loaded.id)
    with warehouse.connect() as connection:
        values = compute_indicator_values(connection, loaded, key["edition"])
        replace_rows(
            connection, "out.indicator_values", _stamp(values, key, loaded), key
        )
        record_method(connection, loaded)
    summary = (
        values.groupby("indicator_id")
        .agg(
            with_value=("is_missing", lambda s: int((~s).sum())),
            proxy=("is_proxy", "sum"),
        )
        .reset_index()
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                values.drop(columns=["input_row_ids"]),
                VALUES_LINEAGE,
                ["city_code", "indicator_id", "data_year", "value", "unit"],
            ),
            "rated cities": int(values["city_code"].nunique()),
            "values per indicator": dg.MetadataValue.md(
                summary.to_markdown(index=False)
            ),
            **_method_metadata(loaded),
        }
    )


@dg.asset(
    partitions_def=EDITIONS,
    group_name=SCORES_GROUP,
    kinds={"duckdb", "sql"},
    owners=OWNERS,
    code_version="1",
    deps=[out_indicator_values],
    tags={"layer": "out"},
)
def out_indicator_scores(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.MaterializeResult:
    """Indicator scores on 0-100 (winsorised min-max with direction, or the scoring
    table of categorical indicators), with nominal and applied weights."""
    loaded = method.load()
    key = _key(context, loaded.id)
    values = _read(warehouse, "out.indicator_values", key)
    with warehouse.connect() as connection:
        scored = normalise(connection, values, loaded)
        tree = score_tree(connection, scored, loaded)
        weights = tree[
            ["city_code", "indicator_id", "nominal_weight", "applied_weight"]
        ]
        scored = scored.merge(weights, on=["city_code", "indicator_id"], how="left")
        replace_rows(
            connection, "out.indicator_scores", _stamp(scored, key, loaded), key
        )
    bounds = (
        scored.loc[scored["kind"] == "numeric"]
        .groupby("indicator_id")[["lower_bound", "upper_bound"]]
        .first()
        .reset_index()
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata(
                scored.drop(columns=["input_row_ids"]),
                SCORES_LINEAGE,
                ["city_code", "indicator_id", "value", "score", "applied_weight"],
            ),
            "winsorising bounds": dg.MetadataValue.md(bounds.to_markdown(index=False)),
            **_method_metadata(loaded),
        }
    )


def _level_asset(
    name: str, build, description: str, dep, lineage: dict
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        partitions_def=EDITIONS,
        group_name=SCORES_GROUP,
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        code_version="1",
        deps=[dep],
        description=description,
        tags={"layer": "out"},
    )
    def _asset(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        method: MethodResource,
    ) -> dg.MaterializeResult:
        loaded = method.load()
        key = _key(context, loaded.id)
        scores = _read(warehouse, "out.indicator_scores", key)
        with warehouse.connect() as connection:
            tree = score_tree(connection, scores, loaded)
            frame = build(tree, loaded)
            replace_rows(
                connection,
                f"out.{name.removeprefix('out_')}",
                _stamp(frame, key, loaded),
                key,
            )
        return dg.MaterializeResult(
            metadata={**table_metadata(frame, lineage), **_method_metadata(loaded)}
        )

    return _asset


out_group_scores = _level_asset(
    "out_group_scores",
    lambda tree, method: group_scores(tree),
    "Scores of the 7 element groups per city, with the missing-data reweighting.",
    out_indicator_scores,
    {
        "score": [("out_indicator_scores", "score")],
        "coverage": [("out_indicator_scores", "nominal_weight")],
    },
)
out_dimension_scores = _level_asset(
    "out_dimension_scores",
    lambda tree, method: dimension_scores(tree),
    "Scores of the 3 dimensions per city: Climate Ambition, Low Carbon Status, "
    "Emission Trend.",
    out_group_scores,
    {
        "score": [("out_group_scores", "score")],
        "coverage": [("out_group_scores", "coverage")],
    },
)
out_composite_scores = _level_asset(
    "out_composite_scores",
    composite_scores,
    "Composite CCNI score, coverage and rank per city (unranked under the "
    "method's minimum coverage).",
    out_dimension_scores,
    {
        "composite": [("out_dimension_scores", "score")],
        "coverage": [("out_dimension_scores", "coverage")],
        "rank": [("out_dimension_scores", "score")],
    },
)

SCORE_ASSETS = [
    out_indicator_values,
    out_indicator_scores,
    out_group_scores,
    out_dimension_scores,
    out_composite_scores,
]
