"""Building the core tables from the raw cells of every source.

Raw cells carry city names as written in each file. `build_core` resolves them to
6-digit division codes through the crosswalk and rejects what cannot be kept,
with the reason and the cell it came from. It writes:

- `core.city_values`: one row per city, year, variable and source;
- `core.province_values`: the province-level series (power generation);
- `core.rejected_rows`: every raw cell that did not reach a core table, whether
  rejected by a reader or here.
"""

import logging
from pathlib import Path

import duckdb
import pandas as pd

from ccni_pipeline.cities import crosswalk
from ccni_pipeline.warehouse import read_sql, replace_table

logger = logging.getLogger(__name__)

LOCODE_FILE = Path(crosswalk.__file__).with_name("locode_to_division.csv")

CORE_COLUMNS = [
    "city_code",
    "year",
    "variable",
    "value",
    "value_text",
    "unit",
    "source_id",
    "raw_row_id",
    "resolution",
]


def _with_locode_codes(names: pd.DataFrame) -> pd.DataFrame:
    """Give Net Zero Tracker actors (UN/LOCODEs such as `CN SGH`) their code."""
    locodes = pd.read_csv(LOCODE_FILE, dtype=str)
    codes = names["city_name"].map(
        dict(zip(locodes["locode"], locodes["division_code"], strict=True))
    )
    lookup = names.copy()
    lookup["source_city_code"] = codes.fillna(lookup["source_city_code"])
    return lookup


def _city_mapping(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Resolve every distinct name form of the raw cells once.

    Where a row has both a code and a name, the name is resolved on its own too.
    When the name points to another city than the code, the row is not trusted,
    so its cells are rejected rather than attached to the code's city.
    """
    names = connection.execute(
        """
        SELECT DISTINCT city_name, province_name, source_city_code, year
        FROM raw.cells
        WHERE city_name <> ''
        """
    ).df()
    lookup = _with_locode_codes(names)
    resolved = crosswalk.resolve_cities(lookup)
    mapping = pd.concat(
        [names, resolved[["city_code", "resolution", "unresolved_reason"]]], axis=1
    )

    has_code = names["source_city_code"].fillna("") != ""
    by_name = pd.DataFrame(
        {"city_code": pd.Series(None, index=names.index, dtype="object")}
    )
    by_name.loc[has_code, "city_code"] = crosswalk.resolve_cities(
        names[has_code].assign(source_city_code="")
    )["city_code"].to_numpy()
    disagree = (
        has_code
        & mapping["city_code"].notna()
        & by_name["city_code"].notna()
        & (by_name["city_code"] != mapping["city_code"])
    )
    if disagree.any():
        mapping.loc[disagree, "unresolved_reason"] = (
            "code "
            + lookup.loc[disagree, "source_city_code"]
            + " belongs to "
            + mapping.loc[disagree, "city_code"]
            + " but the name "
            + names.loc[disagree, "city_name"].map(repr)
            + " resolves to "
            + by_name.loc[disagree, "city_code"]
            + "; fix the code or the name in the source file"
        )
        mapping.loc[disagree, ["city_code", "resolution"]] = None
        logger.warning("%d name forms disagree with their codes", int(disagree.sum()))

    unresolved = mapping["city_code"].isna().sum()
    logger.info(
        "resolved %d of %d distinct city name forms",
        len(mapping) - unresolved,
        len(mapping),
    )
    return mapping


def _province_values(
    connection: duckdb.DuckDBPyConnection,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = connection.execute(
        "SELECT * FROM raw.cells WHERE city_name = '' AND province_name <> ''"
    ).df()
    codes = crosswalk.resolve_provinces(cells["province_name"])
    cells["province_code"] = codes.values
    kept = cells[cells["province_code"].notna()]
    rejected = cells[cells["province_code"].isna()].copy()
    rejected["stage"] = "resolve"
    rejected["reason"] = (
        "province name " + rejected["province_name"].map(repr) + " not in the crosswalk"
    )
    columns = [
        "province_code",
        "year",
        "variable",
        "value",
        "value_text",
        "unit",
        "source_id",
        "raw_row_id",
    ]
    return kept[columns].reset_index(drop=True), rejected


def build_core(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Write the core tables from raw.cells; return the row counts."""
    mapping = _city_mapping(connection)
    connection.register("city_mapping_frame", mapping)
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE city_mapping AS SELECT * FROM city_mapping_frame"
    )
    connection.unregister("city_mapping_frame")
    connection.execute(read_sql("core/city_values.sql"))

    kept = connection.execute(
        f"SELECT {', '.join(CORE_COLUMNS)} FROM core_candidates WHERE problem IS NULL"
    ).df()
    rejected_core = connection.execute(
        """
        SELECT * EXCLUDE (city_code, resolution, unresolved_reason, key_rows,
                          key_values, key_order, first_row_id, problem,
                          value, value_text, unit),
               CASE WHEN city_code IS NULL THEN 'resolve' ELSE 'validate' END AS stage,
               problem AS reason
        FROM core_candidates WHERE problem IS NOT NULL
        """
    ).df()
    province_kept, province_rejected = _province_values(connection)
    province_rejected = province_rejected.drop(
        columns=["province_code", "value", "value_text", "unit"], errors="ignore"
    )
    read_rejected = connection.execute("SELECT * FROM raw.rejected").df()
    rejected = pd.concat(
        [read_rejected, rejected_core, province_rejected], ignore_index=True
    )

    counts = {
        "core.city_values": replace_table(connection, "core.city_values", kept),
        "core.province_values": replace_table(
            connection, "core.province_values", province_kept
        ),
        "core.rejected_rows": replace_table(connection, "core.rejected_rows", rejected),
    }
    logger.info("core tables written: %s", counts)
    return counts
