"""Asset checks: pandera schemas (blocking) and data-gap warnings (WARN).

Blocking checks stop downstream assets when a table breaks its schema. WARN
checks list what users should know but that does not invalidate a score: city
names that did not resolve, cities whose clean-energy figures are missing or
only a provincial proxy, and real but implausible values.
"""

import logging

import dagster as dg
import pandas as pd
import pandera.errors

from ccni_pipeline.assets.core import core_city_values
from ccni_pipeline.assets.raw import RAW_ASSETS
from ccni_pipeline.assets.scores import (
    out_composite_scores,
    out_indicator_scores,
    out_indicator_values,
)
from ccni_pipeline.resources import MethodResource, WarehouseResource
from ccni_pipeline.schemas.tables import (
    CompositeScores,
    CoreCityValues,
    IndicatorScores,
    RawCells,
)
from ccni_pipeline.sources import yearbook
from ccni_pipeline.sources.manifest import lake_path, load_manifest

logger = logging.getLogger(__name__)

FAILURE_ROWS_SHOWN = 20
IMPLAUSIBLE_CO2_PER_CAPITA_T = 100.0
MAX_UNRESOLVED_SHARE = 0.2


def _validate(model, frame: pd.DataFrame, what: str) -> dg.AssetCheckResult:
    """Run a pandera model lazily and report every failure case in the metadata."""
    try:
        model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "failure cases": len(cases),
                "first failures": dg.MetadataValue.md(
                    cases.head(FAILURE_ROWS_SHOWN).astype(str).to_markdown(index=False)
                ),
            },
            description=f"{what} breaks its schema in {len(cases)} places",
        )
    return dg.AssetCheckResult(passed=True, metadata={"rows checked": len(frame)})


def _partition(context: dg.AssetCheckExecutionContext) -> int:
    return int(context.run.tags["dagster/partition"])


def _raw_schema_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    source_id = asset.key.path[-1].removeprefix("raw_")

    @dg.asset_check(asset=asset, name="raw_schema", blocking=True)
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Types, year range, unique cell ids and 64-hex checksums of the kept cells."""
        with warehouse.connect() as connection:
            frame = connection.execute(
                "SELECT * FROM raw.cells WHERE source_id = $source_id",
                {"source_id": source_id},
            ).df()
        frame["row_number"] = frame["row_number"].astype("int64")
        frame["year"] = frame["year"].astype("int64")
        return _validate(RawCells, frame, f"raw.cells of {source_id}")

    return _check


def _header_drift_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    source_id = asset.key.path[-1].removeprefix("raw_")

    @dg.asset_check(asset=asset, name="header_drift")
    def _check() -> dg.AssetCheckResult:
        """Columns the volume has that its column map does not know, and mapped
        columns that disappeared: a new layout needs a reviewed map."""
        entry = load_manifest()[source_id]
        drift = yearbook.header_drift(
            lake_path(entry), yearbook.map_path_for(source_id)
        )
        return dg.AssetCheckResult(
            passed=drift.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "unmapped columns": int((drift["status"] == "unmapped").sum()),
                "missing columns": int((drift["status"] == "missing").sum()),
                "columns": dg.MetadataValue.md(
                    drift.to_markdown(index=False) if len(drift) else "none"
                ),
            },
        )

    return _check


RAW_CHECKS = [_raw_schema_check(asset) for asset in RAW_ASSETS] + [
    _header_drift_check(asset)
    for asset in RAW_ASSETS
    if asset.key.path[-1].removeprefix("raw_") in yearbook.yearbook_source_ids()
]


@dg.asset_check(asset=core_city_values, blocking=True)
def core_schema(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Check one row per city, year, variable and source, with no negatives."""
    with warehouse.connect() as connection:
        frame = connection.execute("SELECT * FROM core.city_values").df()
    frame["year"] = frame["year"].astype("int64")
    return _validate(CoreCityValues, frame, "core.city_values")


@dg.asset_check(asset=core_city_values, blocking=True)
def rows_add_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Check that every cell read is kept in a core table or recorded as rejected."""
    with warehouse.connect() as connection:
        frame = connection.execute(
            """
            WITH read AS (
                SELECT source_id, count(*) AS kept_by_reader FROM raw.cells GROUP BY ALL
            ), rejected AS (
                SELECT source_id,
                       count(*) FILTER (WHERE stage = 'read') AS rejected_by_reader,
                       count(*) FILTER (WHERE stage <> 'read') AS rejected_in_core
                FROM core.rejected_rows GROUP BY ALL
            ), kept AS (
                SELECT source_id, count(*) AS kept_in_core FROM (
                    SELECT source_id FROM core.city_values
                    UNION ALL SELECT source_id FROM core.province_values
                ) GROUP BY ALL
            )
            SELECT source_id,
                   coalesce(kept_by_reader, 0) + coalesce(rejected_by_reader, 0)
                       AS rows_read,
                   coalesce(kept_in_core, 0) AS rows_kept,
                   coalesce(rejected_by_reader, 0) + coalesce(rejected_in_core, 0)
                       AS rows_rejected
            FROM read
            FULL JOIN rejected USING (source_id)
            FULL JOIN kept USING (source_id)
            ORDER BY source_id
            """
        ).df()
    frame["adds_up"] = frame["rows_read"] == frame["rows_kept"] + frame["rows_rejected"]
    return dg.AssetCheckResult(
        passed=bool(frame["adds_up"].all()),
        metadata={
            "rows read": int(frame["rows_read"].sum()),
            "rows kept": int(frame["rows_kept"].sum()),
            "rows rejected": int(frame["rows_rejected"].sum()),
            "by source": dg.MetadataValue.md(frame.to_markdown(index=False)),
        },
    )


@dg.asset_check(asset=core_city_values, blocking=True)
def sources_resolve(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Check that each source keeps rows in the core and that at most 20 % of its
    cells fail to resolve to a city. More means a layout change or a broken
    crosswalk, not a few odd names."""
    with warehouse.connect() as connection:
        frame = connection.execute(
            """
            WITH read AS (
                SELECT source_id, count(*) AS kept_by_reader FROM raw.cells GROUP BY ALL
            ), unresolved AS (
                SELECT source_id, count(*) AS unresolved
                FROM core.rejected_rows WHERE stage = 'resolve' GROUP BY ALL
            ), kept AS (
                SELECT source_id, count(*) AS kept_in_core FROM (
                    SELECT source_id FROM core.city_values
                    UNION ALL SELECT source_id FROM core.province_values
                ) GROUP BY ALL
            )
            SELECT source_id, kept_by_reader,
                   coalesce(unresolved, 0) AS unresolved,
                   coalesce(kept_in_core, 0) AS kept_in_core
            FROM read LEFT JOIN unresolved USING (source_id)
            LEFT JOIN kept USING (source_id)
            ORDER BY source_id
            """
        ).df()
    share = frame["unresolved"] / frame["kept_by_reader"].clip(lower=1)
    frame["failing"] = (frame["kept_in_core"] == 0) | (share > MAX_UNRESOLVED_SHARE)
    failing = frame[frame["failing"]]
    return dg.AssetCheckResult(
        passed=failing.empty,
        metadata={
            "failing sources": ", ".join(failing["source_id"]) or "none",
            "by source": dg.MetadataValue.md(frame.to_markdown(index=False)),
        },
        description=(
            "sources with no core rows or over 20 % unresolved cells: "
            + ", ".join(failing["source_id"])
            if len(failing)
            else None
        ),
    )


@dg.asset_check(asset=core_city_values)
def pilot_lists_agree(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Cities on which the two low-carbon pilot lists disagree (missing from one,
    or another year). The 135-row list expands pilot provinces to all their cities,
    so many differences are expected; policy.sql has the scoring rule."""
    with warehouse.connect() as connection:
        differences = connection.execute(
            """
            WITH a AS (SELECT city_code, value FROM core.city_values
                       WHERE source_id = 'pilot_cities_92' AND variable = 'pilot_year'),
                 b AS (SELECT city_code, value FROM core.city_values
                       WHERE source_id = 'pilot_cities_135' AND variable = 'pilot_year')
            SELECT coalesce(a.city_code, b.city_code) AS city_code, r.name_zh,
                   a.value::INTEGER AS year_in_92_list,
                   b.value::INTEGER AS year_in_135_list
            FROM a FULL JOIN b USING (city_code)
            LEFT JOIN ref.cities AS r
                ON r.city_code = coalesce(a.city_code, b.city_code)
            WHERE a.value IS DISTINCT FROM b.value
            ORDER BY 1
            """
        ).df()
    return dg.AssetCheckResult(
        passed=differences.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "cities that differ": len(differences),
            "cities": dg.MetadataValue.md(differences.to_markdown(index=False)),
        },
    )


@dg.asset_check(asset=core_city_values)
def unresolved_city_names(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """City names no crosswalk entry matched, with the source rows they came from."""
    with warehouse.connect() as connection:
        names = connection.execute(
            """
            SELECT source_id, city_name, province_name, reason,
                   count(*) AS cells,
                   string_agg(
                       DISTINCT CASE WHEN sheet = '' THEN '' ELSE sheet || '!' END
                           || column_letter || row_number,
                       ', '
                   ) AS first_cells
            FROM core.rejected_rows WHERE stage = 'resolve'
            GROUP BY ALL ORDER BY source_id, city_name
            """
        ).df()
    names["first_cells"] = names["first_cells"].str.slice(0, 80)
    return dg.AssetCheckResult(
        passed=names.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unresolved names": len(names),
            "names": dg.MetadataValue.md(
                names.to_markdown(index=False) if len(names) else "none"
            ),
        },
    )


@dg.asset_check(asset=out_indicator_values)
def clean_energy_data(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.AssetCheckResult:
    """Cities whose non-fossil share is only a provincial proxy or missing, and
    whose electricity use is missing: the disclosure gap the index reports."""
    edition = _partition(context)
    with warehouse.connect() as connection:
        gaps = connection.execute(
            """
            SELECT city_code,
                   bool_or(indicator_id = 'non_fossil_share' AND is_proxy)
                       AS non_fossil_proxy,
                   bool_or(indicator_id = 'non_fossil_share' AND is_missing)
                       AS non_fossil_missing,
                   bool_or(indicator_id = 'electricity_intensity' AND is_missing)
                       AS electricity_missing
            FROM out.indicator_values
            WHERE edition = $edition AND method_id = $method_id
            GROUP BY city_code
            HAVING non_fossil_proxy OR non_fossil_missing OR electricity_missing
            ORDER BY city_code
            """,
            {"edition": edition, "method_id": method.load().id},
        ).df()
    return dg.AssetCheckResult(
        passed=gaps.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "cities flagged": len(gaps),
            "non-fossil share only a provincial proxy": int(
                gaps["non_fossil_proxy"].sum()
            ),
            "non-fossil share missing": int(gaps["non_fossil_missing"].sum()),
            "electricity use missing": int(gaps["electricity_missing"].sum()),
            "cities": dg.MetadataValue.md(gaps.head(50).to_markdown(index=False)),
        },
    )


@dg.asset_check(asset=out_indicator_values)
def implausible_values(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.AssetCheckResult:
    """CO2 per capita above 100 t: real in some mining cities, kept but flagged."""
    edition = _partition(context)
    with warehouse.connect() as connection:
        flagged = connection.execute(
            """
            SELECT v.city_code, r.name_zh, v.value AS co2_t_per_capita, v.detail
            FROM out.indicator_values AS v JOIN ref.cities AS r USING (city_code)
            WHERE v.edition = $edition AND v.method_id = $method_id
              AND v.indicator_id = 'co2_per_capita' AND v.value > $limit
            ORDER BY v.value DESC
            """,
            {
                "edition": edition,
                "method_id": method.load().id,
                "limit": IMPLAUSIBLE_CO2_PER_CAPITA_T,
            },
        ).df()
    return dg.AssetCheckResult(
        passed=flagged.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "cities flagged": len(flagged),
            "cities": dg.MetadataValue.md(
                flagged.to_markdown(index=False) if len(flagged) else "none"
            ),
        },
    )


# Edition tables whose rows are validated after each materialisation.
EDITION_TABLES = {
    "out.indicator_scores": IndicatorScores,
    "out.composite_scores": CompositeScores,
}


def _edition_rows(warehouse, table: str, edition: int, method_id: str) -> pd.DataFrame:
    with warehouse.connect() as connection:
        return connection.execute(
            f"SELECT * FROM {table} WHERE edition = $edition AND method_id = $m",
            {"edition": edition, "m": method_id},
        ).df()


@dg.asset_check(asset=out_indicator_scores, blocking=True)
def indicator_scores_schema(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.AssetCheckResult:
    """Scores within 0-100, weights within 0-1, one row per city and indicator."""
    edition = _partition(context)
    table = "out.indicator_scores"
    frame = _edition_rows(warehouse, table, edition, method.load().id)
    return _validate(EDITION_TABLES[table], frame, f"{table} of {edition}")


@dg.asset_check(asset=out_composite_scores, blocking=True)
def composite_schema(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    method: MethodResource,
) -> dg.AssetCheckResult:
    """Composite within 0-100, coverage within 0-1, one row per city."""
    edition = _partition(context)
    table = "out.composite_scores"
    frame = _edition_rows(warehouse, table, edition, method.load().id)
    return _validate(EDITION_TABLES[table], frame, f"{table} of {edition}")


ALL_CHECKS = [
    *RAW_CHECKS,
    core_schema,
    rows_add_up,
    sources_resolve,
    pilot_lists_agree,
    unresolved_city_names,
    clean_energy_data,
    implausible_values,
    indicator_scores_schema,
    composite_schema,
]
