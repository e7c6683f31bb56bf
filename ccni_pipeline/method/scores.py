"""Normalisation and aggregation: from indicator values to the composite score.

`normalise` turns indicator values into 0-100 scores (`sql/scores/normalise.sql`)
and `score_tree` aggregates them into group, dimension and composite scores with
missing-data reweighting (`sql/scores/aggregate.sql`). Both run in DuckDB on
frames registered as temporary tables; the method supplies every weight.
"""

import logging

import duckdb
import pandas as pd
from scipy.stats import norm

from ccni_pipeline.method.config import Method
from ccni_pipeline.warehouse import read_sql

logger = logging.getLogger(__name__)


def method_weights(method: Method) -> pd.DataFrame:
    """Return one row per indicator with its weight in group, group and dimension."""
    return pd.DataFrame(
        [
            {
                "indicator_id": indicator.id,
                "group_id": group.id,
                "dimension_id": dimension.id,
                "w_indicator": method.indicator_weight(group, indicator),
                "w_group": group.weight,
                "w_dimension": dimension.weight,
            }
            for dimension, group, indicator in method.iter_indicators()
        ]
    )


def goalposts_frame(method: Method) -> pd.DataFrame:
    """Return the fixed goalposts of the numeric indicators that have them."""
    rows = [
        {
            "indicator_id": indicator.id,
            "goalpost_low": float(indicator.goalposts[0]),
            "goalpost_high": float(indicator.goalposts[1]),
        }
        for _, _, indicator in method.iter_indicators()
        if indicator.goalposts is not None
    ]
    columns = ["indicator_id", "goalpost_low", "goalpost_high"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"goalpost_low": "float64", "goalpost_high": "float64"})


def normalise(
    connection: duckdb.DuckDBPyConnection, values: pd.DataFrame, method: Method
) -> pd.DataFrame:
    """Add `score`, `lower_bound` and `upper_bound` to the indicator values."""
    columns = [c for c in values.columns if c != "input_row_ids"]
    connection.register("indicator_values", values[columns])
    connection.register("goalposts", goalposts_frame(method))
    try:
        sql = read_sql("scores/normalise.sql")
        scored = connection.execute(
            sql,
            {
                "winsor_lower": method.normalisation.winsor_lower,
                "winsor_upper": method.normalisation.winsor_upper,
                "normalisation": method.normalisation.method,
            },
        ).df()
    finally:
        connection.unregister("indicator_values")
        connection.unregister("goalposts")
    z_rows = scored["z_value"].notna()
    scored.loc[z_rows, "score"] = norm.cdf(scored.loc[z_rows, "z_value"]) * 100
    scored = scored.merge(
        values[["city_code", "indicator_id", "input_row_ids"]],
        on=["city_code", "indicator_id"],
        how="left",
    )
    return scored


def score_tree(
    connection: duckdb.DuckDBPyConnection, scores: pd.DataFrame, method: Method
) -> pd.DataFrame:
    """Return one row per city and indicator with every level's score and weight."""
    connection.register(
        "indicator_scores", scores[["city_code", "indicator_id", "score"]]
    )
    connection.register("method_weights", method_weights(method))
    try:
        connection.execute(
            read_sql("scores/aggregate.sql"),
            {
                "aggregation": method.aggregation.method,
                "floor": method.aggregation.geometric_floor,
            },
        )
        tree = connection.execute("SELECT * FROM score_tree").df()
    finally:
        connection.unregister("indicator_scores")
        connection.unregister("method_weights")
    return tree


def group_scores(tree: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "city_code",
        "dimension_id",
        "group_id",
        "group_score",
        "w_group",
        "group_coverage",
    ]
    frame = tree[columns].drop_duplicates(["city_code", "group_id"])
    return frame.rename(
        columns={
            "group_score": "score",
            "w_group": "weight",
            "group_coverage": "coverage",
        }
    ).reset_index(drop=True)


def dimension_scores(tree: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "city_code",
        "dimension_id",
        "dimension_score",
        "w_dimension",
        "dimension_coverage",
    ]
    frame = tree[columns].drop_duplicates(["city_code", "dimension_id"])
    return frame.rename(
        columns={
            "dimension_score": "score",
            "w_dimension": "weight",
            "dimension_coverage": "coverage",
        }
    ).reset_index(drop=True)


def composite_scores(tree: pd.DataFrame, method: Method) -> pd.DataFrame:
    """Return composite, coverage and rank per city (1 = best, ties share a rank).

    Cities under the method's minimum coverage are reported without a rank.
    """
    frame = tree[["city_code", "composite", "coverage"]].drop_duplicates("city_code")
    frame = frame.reset_index(drop=True)
    frame["coverage"] = frame["coverage"].round(10)
    threshold = round(method.missing_data.min_coverage, 10)
    frame["ranked"] = (frame["coverage"] >= threshold) & frame["composite"].notna()
    ranks = frame.loc[frame["ranked"], "composite"].rank(method="min", ascending=False)
    frame["rank"] = ranks.astype("Int64")
    return frame
