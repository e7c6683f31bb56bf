"""Computing the indicator values of one edition in DuckDB.

The SQL files under `sql/indicators/` compute each indicator from the core tables.
This module binds the edition's years and the method's choices as parameters and
stacks the results. It turns categorical states into scores with the method's
scoring tables, and adds a missing row, with its reason, for every rated city
and indicator that has no value. No Python loop runs over cities.
"""

import logging
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from ccni_pipeline.cities import crosswalk
from ccni_pipeline.method.config import Method
from ccni_pipeline.method.mann_kendall import exact_table
from ccni_pipeline.sources import policy_register
from ccni_pipeline.warehouse import read_sql

logger = logging.getLogger(__name__)

INDICATOR_SQL = [
    "indicators/levels.sql",
    "indicators/trends.sql",
    "indicators/non_fossil.sql",
    "indicators/yearbook.sql",
    "indicators/policy.sql",
    "indicators/disclosure.sql",
]

# Reason an indicator has no value when its SQL returned no row for a city.
MISSING_REASONS = {
    "peak_target": (
        "not reviewed: the city is in neither the policy register nor the Net Zero "
        "Tracker rows"
    ),
    "neutrality_target": (
        "not reviewed: the city is in neither the policy register nor the Net Zero "
        "Tracker rows"
    ),
    "pilot_status": "city not in the crosswalk's province list",
    "disclosure": "no statistics mapped in the method file",
    "spending_share": (
        "no fiscal source loaded: energy-saving and environmental-protection "
        "spending is in no loaded file"
    ),
    "electricity_intensity": (
        "no electricity use with GDP of the same scope in the city statistical "
        "yearbook for {fallback_start}-{data_year}"
    ),
    "buses_per_10k": (
        "no public bus fleet with population of the same scope in the city "
        "statistical yearbook for {fallback_start}-{data_year}"
    ),
    "non_fossil_share": "no provincial generation data for the city's province",
    "secondary_share": "no GDP by sector for {fallback_start}-{data_year}",
    "co2_per_capita": "no CO2 or resident population for {fallback_start}-{data_year}",
    "carbon_intensity": "no CO2 or real GDP for {fallback_start}-{data_year}",
    "co2_growth": (
        "no single CO2 source covers every year of {window_start}-{data_year}"
    ),
    "decoupling": (
        "no single CO2 source covers {window_start}-{data_year}, or real GDP of "
        "{window_start} or {data_year} is missing"
    ),
    "peak_trend": (
        "no single CO2 source covers every year of {window_start}-{data_year}"
    ),
}

TREND_INDICATORS = ["co2_growth", "decoupling", "peak_trend"]

VALUE_COLUMNS = [
    "city_code",
    "indicator_id",
    "data_year",
    "window_start",
    "value",
    "unit",
    "detail",
    "category",
    "preset_score",
    "is_proxy",
    "input_row_ids",
]


def _parameters(method: Method, edition: int) -> dict[str, object]:
    years = method.edition(edition)
    scoring = method.scoring
    return {
        "data_year": years.data_year,
        "window_start": years.trend_window[0],
        "fallback_years": method.missing_data.fallback_years,
        "precedence": method.co2_sources["precedence"],
        "tapio_lower": scoring["tapio_bounds"]["lower"],
        "tapio_upper": scoring["tapio_bounds"]["upper"],
        "alpha": scoring["peak_trend"]["alpha"],
        "cutoff_year": date.fromisoformat(years.cutoff_date).year,
        "cutoff_date": years.cutoff_date,
    }


def _used(sql: str, parameters: dict[str, object]) -> dict[str, object]:
    """Keep the parameters a statement refers to (DuckDB rejects unused ones)."""
    return {name: value for name, value in parameters.items() if f"${name}" in sql}


def prepare_edition(
    connection: duckdb.DuckDBPyConnection, method: Method, edition: int
) -> None:
    """Create the temporary tables the indicator SQL reads."""
    years = method.edition(edition)
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE candidate_cities AS
        SELECT city_code, province_code, name_zh, level
        FROM ref.cities
        WHERE list_contains($levels, level)
          AND coalesce(valid_from, 0) <= $data_year
          AND coalesce(valid_to, 9999) > $data_year
        """,
        {"levels": method.city_set["levels"], "data_year": years.data_year},
    )
    disclosure = pd.DataFrame(
        [
            {"statistic": statistic, "variable": variable}
            for statistic, variables in method.disclosure_statistics.items()
            for variable in (variables or [None])
        ]
    )
    connection.register("disclosure_map_frame", disclosure)
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE disclosure_map AS "
        "SELECT statistic, variable::VARCHAR AS variable FROM disclosure_map_frame"
    )
    _register_policy(connection, years.cutoff_date)
    connection.register("mk_exact_frame", exact_table())
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE mk_exact AS SELECT * FROM mk_exact_frame"
    )
    parameters = _parameters(method, edition)
    choice_sql = read_sql("indicators/co2_choice.sql")
    connection.execute(choice_sql, _used(choice_sql, parameters))


def _register_policy(connection: duckdb.DuckDBPyConnection, cutoff_text: str) -> None:
    """Create the policy register's tables as they stand at the cut-off date."""
    cutoff = date.fromisoformat(cutoff_text)
    register = policy_register.load_policy_register()
    current = policy_register.current_targets(register, cutoff)
    current = current.assign(
        target_year=pd.to_numeric(current["target_year"], errors="coerce").astype(
            "Int64"
        ),
        register_row=current["register_row"].astype("int64"),
    )
    reviewed = pd.DataFrame(
        {"city_code": sorted(policy_register.reviewed_cities(register, cutoff))},
        dtype="object",
    )
    undetermined = policy_register.undetermined_targets(register, cutoff)
    frames = {
        "policy_current": current,
        "policy_reviewed": reviewed,
        "policy_undetermined": undetermined,
    }
    for name, frame in frames.items():
        connection.register(f"{name}_frame", frame)
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame"
        )
        connection.unregister(f"{name}_frame")


def _score_categories(values: pd.DataFrame, method: Method) -> pd.Series:
    """Turn categorical states and target years into scores with the scoring tables."""
    scoring = method.scoring
    scores = values["preset_score"].astype("float64").copy()
    tables = {
        "decoupling": scoring["decoupling_state"],
        "peak_trend": {k: v for k, v in scoring["peak_trend"].items() if k != "alpha"},
        "pilot_status": scoring["pilot_status"],
    }
    for indicator_id, table in tables.items():
        rows = values["indicator_id"] == indicator_id
        scores[rows] = values.loc[rows, "category"].map(table).astype("float64")

    for indicator_id in ("peak_target", "neutrality_target"):
        table = scoring[indicator_id]
        rows = values["indicator_id"] == indicator_id
        years = values.loc[rows, "value"].astype("float64")
        conditions = [years <= band["max_year"] for band in table["by_year"]]
        choices = [band["score"] for band in table["by_year"]]
        by_year = np.select(conditions, choices, default=np.nan)
        category = values.loc[rows, "category"]
        by_year = np.where(
            category == "reviewed_nothing_found",
            table["reviewed_nothing_found"],
            by_year,
        )
        for state in ("plan_without_year", "peaked"):
            if state in table:
                by_year = np.where(category == state, table[state], by_year)
        scores[rows] = by_year
    return scores


def compute_indicator_values(
    connection: duckdb.DuckDBPyConnection, method: Method, edition: int
) -> pd.DataFrame:
    """Return one row per rated city and indicator, missing ones included."""
    prepare_edition(connection, method, edition)
    parameters = _parameters(method, edition)
    parts = []
    for name in INDICATOR_SQL:
        sql = read_sql(name)
        part = connection.execute(sql, _used(sql, parameters)).df()
        logger.info("%s returned %d indicator values", name, len(part))
        parts.append(part[VALUE_COLUMNS])
    values = pd.concat(parts, ignore_index=True)
    values["preset_score"] = _score_categories(values, method)

    rated = _rated_cities(connection, values, method)
    values = values[values["city_code"].isin(rated["city_code"])]
    grid = _full_grid(rated, method)
    merged = grid.merge(values, on=["city_code", "indicator_id"], how="left")
    merged["is_missing"] = (merged["value"].isna() & merged["category"].isna()) | (
        merged["category"] == "undetermined"
    )
    merged["reason"] = _missing_reasons(merged, method, edition)
    merged["is_proxy"] = merged["is_proxy"].fillna(False).astype(bool)
    merged["input_row_ids"] = merged["input_row_ids"].map(
        lambda ids: list(ids) if isinstance(ids, list | np.ndarray) else []
    )
    merged["detail"] = _flag_boundary_changes(merged, method, edition)
    return merged


def _flag_boundary_changes(
    merged: pd.DataFrame, method: Method, edition: int
) -> pd.Series:
    """Append a note to trend values of cities whose territory changed in the window.

    A CO2 or GDP series that crosses a merger or split compares two different
    territories unless its source redrew the history on today's boundary. The
    sources here do not say whether they did, so the value is kept and flagged.
    """
    start, end = method.edition(edition).trend_window
    flags = crosswalk.boundary_flags(merged["city_code"], start, end)
    is_trend = merged["indicator_id"].isin(TREND_INDICATORS) & ~merged["is_missing"]
    flagged = is_trend & flags["changed"].to_numpy()
    detail = merged["detail"].fillna("").astype(str)
    notes = "; boundary changed in the window: " + flags["note"].to_numpy()
    return detail.where(~flagged, detail + notes)


def _rated_cities(
    connection: duckdb.DuckDBPyConnection, values: pd.DataFrame, method: Method
) -> pd.DataFrame:
    """Return the candidate cities that have a value for a required indicator."""
    required = method.city_set.get("requires_any_of", [])
    candidates = connection.execute(
        "SELECT city_code, province_code FROM candidate_cities"
    ).df()
    with_data = values.loc[
        values["indicator_id"].isin(required) & values["value"].notna(), "city_code"
    ].unique()
    return candidates[candidates["city_code"].isin(with_data)].reset_index(drop=True)


def _full_grid(rated: pd.DataFrame, method: Method) -> pd.DataFrame:
    indicators = pd.DataFrame(
        [
            {
                "indicator_id": indicator.id,
                "group_id": group.id,
                "dimension_id": dimension.id,
                "kind": indicator.kind,
                "direction": indicator.direction,
                "default_unit": indicator.unit,
            }
            for dimension, group, indicator in method.iter_indicators()
        ]
    )
    return rated[["city_code"]].merge(indicators, how="cross")


def _missing_reasons(merged: pd.DataFrame, method: Method, edition: int) -> pd.Series:
    years = method.edition(edition)
    context = {
        "data_year": years.data_year,
        "window_start": years.trend_window[0],
        "fallback_start": years.data_year - method.missing_data.fallback_years,
    }
    templates = {key: text.format(**context) for key, text in MISSING_REASONS.items()}
    reasons = merged["indicator_id"].map(templates).fillna("no value")
    undetermined = merged["category"] == "undetermined"
    reasons = reasons.where(~undetermined, merged["detail"])
    return reasons.where(merged["is_missing"], "")


def edition_summary(
    connection: duckdb.DuckDBPyConnection, method: Method, edition: int
) -> pd.DataFrame:
    """Return the edition's aggregates beside the published figures, if any."""
    prepare_edition(connection, method, edition)
    parameters = _parameters(method, edition)
    parameters.update({"edition": edition, "method_id": method.id})
    sql = read_sql("scores/edition_summary.sql")
    summary = connection.execute(sql, _used(sql, parameters)).df()
    published = method.edition(edition).published
    summary["published"] = summary["metric"].map(published).astype("float64")
    return summary
