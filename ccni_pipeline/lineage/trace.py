"""`ccni trace`: one city's composite score as a tree down to the source cells.

`build_trace` reads one edition, method and city from the warehouse over a
read-only connection, with one query per level of the tree (composite,
dimensions, groups, indicators, source cells). Names, the aggregation and
normalisation choices and the scoring tables come from the method content stored
in `out.methods`. The lake path of each source file comes from the manifest.
Policy targets point at rows of the committed policy register CSV.

Every inner node carries a `formula` that recomputes its value from its children
with the actual numbers, so an auditor can check the score by hand. The tree is a
plain dict of JSON types; `render_text` and `render_json` turn it into a report,
`audit_page.render_html` into a page. `docs/trace-json.md` documents the format.
"""

import argparse
import csv
import difflib
import json
import logging
import math
import os
import re
import sys
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from ccni_pipeline import lake
from ccni_pipeline.method.config import Method, load_method
from ccni_pipeline.sources.base import column_letter
from ccni_pipeline.sources.manifest import ManifestError, lake_path, load_manifest
from ccni_pipeline.sources.policy_register import REGISTER_PATH

logger = logging.getLogger(__name__)

TRACE_FORMAT = "ccni-trace"
TRACE_VERSION = 1
SCORE_UNIT = "score (0-100)"
# relative difference above which a recomputed value is reported as a mismatch
RECOMPUTE_TOLERANCE = 1e-9

# The scoring table of each scored indicator, by key of the method's `scoring`.
SCORING_TABLES = {
    "decoupling": "decoupling_state",
    "peak_trend": "peak_trend",
    "pilot_status": "pilot_status",
    "peak_target": "peak_target",
    "neutrality_target": "neutrality_target",
}
NON_FOSSIL_VARIABLES = (
    "power_gen_hydro_100m_kwh",
    "power_gen_wind_100m_kwh",
    "power_gen_nuclear_100m_kwh",
    "power_gen_solar_100m_kwh",
)
_REGISTER_REFERENCE = re.compile(r"policy register row (\d+)(:?)")


class TraceError(ValueError):
    """A trace cannot be built: unknown city, indicator, edition or method."""


# --------------------------------------------------------------------------- #
# building the tree
# --------------------------------------------------------------------------- #


def build_trace(
    warehouse_path: Path | str,
    edition: int,
    city: str,
    method_id: str | None = None,
    indicator: str | None = None,
) -> dict[str, Any]:
    """Build the tree from one city's composite score down to its source cells.

    Args:
        warehouse_path: the warehouse file. Its folder is the lake, whose
            `raw/` folder contains the source files.
        edition: index edition, e.g. 2022.
        city: division code (440300), Chinese name (深圳, 深圳市) or English
            name (Shenzhen, case-insensitive).
        method_id: method whose scores to trace; None takes the only method
            scored for the edition, or the packaged default when there are several.
        indicator: limit the tree to the path of this indicator id.

    Returns:
        The trace as a dict of JSON types (see docs/trace-json.md).

    Raises:
        TraceError: the warehouse is missing, or the edition, method, city or
            indicator is unknown; the message lists close matches.
    """
    warehouse_path = Path(warehouse_path).resolve()
    if not warehouse_path.is_file():
        raise TraceError(
            f"warehouse {warehouse_path} not found; run `ccni run --edition "
            f"{edition}` first, or set CCNI_DATA_LAKE to the lake that has it"
        )
    with duckdb.connect(str(warehouse_path), read_only=True) as connection:
        method_row = _resolve_method(connection, edition, method_id)
        method = _method_from_row(method_row)
        city_row = _resolve_city(connection, city)
        if indicator is not None:
            _check_indicator(method, indicator)
        key = {
            "edition": edition,
            "method_id": method_row["method_id"],
            "city_code": city_row["city_code"],
        }
        levels = _read_levels(connection, key, city_row)
        cells = _read_cells(connection, key)

    raw_root = warehouse_path.parent / "raw"
    leaves = _leaves_by_indicator(cells, raw_root, levels["indicators"])
    root = _composite_node(levels, method, leaves, indicator)
    return {
        "format": TRACE_FORMAT,
        "version": TRACE_VERSION,
        "edition": edition,
        "method": _method_summary(method_row, method),
        "city": city_row,
        "indicator_filter": indicator,
        "warehouse": str(warehouse_path),
        "lake": str(warehouse_path.parent),
        "root": root,
    }


def _resolve_method(
    connection: duckdb.DuckDBPyConnection, edition: int, method_id: str | None
) -> dict[str, Any]:
    """Return the out.methods row of the method whose scores are traced."""
    scored = [
        row[0]
        for row in connection.execute(
            "SELECT DISTINCT method_id FROM out.composite_scores "
            "WHERE edition = $edition ORDER BY method_id",
            {"edition": edition},
        ).fetchall()
    ]
    if not scored:
        editions = connection.execute(
            "SELECT DISTINCT edition FROM out.composite_scores ORDER BY edition"
        ).fetchall()
        known = ", ".join(str(row[0]) for row in editions) or "none"
        raise TraceError(
            f"edition {edition} has no scores in the warehouse (editions with "
            f"scores: {known}); run `ccni run --edition {edition}` first"
        )
    if method_id is None:
        method_id = _default_method_id(scored, edition)
    if method_id not in scored:
        close = difflib.get_close_matches(method_id, scored, n=5, cutoff=0.5)
        raise TraceError(
            f"method {method_id!r} has no scores for edition {edition}; "
            f"close matches: {close or 'none'}; methods scored: {scored}"
        )
    frame = connection.execute(
        "SELECT method_id, method_hash, title, content_json, recorded_at "
        "FROM out.methods WHERE method_id = $method_id "
        "ORDER BY recorded_at DESC LIMIT 1",
        {"method_id": method_id},
    ).df()
    if frame.empty:
        raise TraceError(
            f"method {method_id!r} has scores but no row in out.methods; "
            f"rerun `ccni run --edition {edition}` with that method"
        )
    # NOTE: scores do not record the method hash, so when one id was recorded
    # with several contents, the trace takes the latest recorded content.
    return frame.iloc[0].to_dict()


def _default_method_id(scored: list[str], edition: int) -> str:
    if len(scored) == 1:
        return scored[0]
    default_id = load_method().id
    if default_id in scored:
        return default_id
    raise TraceError(
        f"edition {edition} has scores of several methods {scored}; "
        "choose one with --method"
    )


def _method_from_row(method_row: dict[str, Any]) -> Method:
    try:
        return Method.model_validate(json.loads(method_row["content_json"]))
    except ValueError as error:
        raise TraceError(
            f"the stored content of method {method_row['method_id']!r} "
            f"(hash {method_row['method_hash']}) does not load with this version "
            f"of the pipeline: {error}; rerun the edition with this version"
        ) from error


def _method_summary(method_row: dict[str, Any], method: Method) -> dict[str, Any]:
    return {
        "method_id": method.id,
        "method_hash": method_row["method_hash"],
        "title": method.title,
        "recorded_at": method_row["recorded_at"],
        "normalisation": method.normalisation.method,
        "winsor_lower": method.normalisation.winsor_lower,
        "winsor_upper": method.normalisation.winsor_upper,
        "aggregation": method.aggregation.method,
        "geometric_floor": method.aggregation.geometric_floor,
        "min_coverage": method.missing_data.min_coverage,
    }


def _normalise_name(text: str) -> str:
    """Fold a name as the crosswalk does: NFKC, no whitespace, case-folded."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(folded.split()).casefold().replace("'", "")


def _resolve_city(connection: duckdb.DuckDBPyConnection, text: str) -> dict[str, Any]:
    """Return the ref.cities row (with province names) that `text` names."""
    query = _normalise_name(text)
    frame = connection.execute(
        """
        SELECT DISTINCT c.city_code, c.name_zh, c.short_zh, c.name_en,
               c.province_code, p.name_zh AS province_name_zh,
               p.name_en AS province_name_en, c.level
        FROM ref.cities AS c
        LEFT JOIN ref.provinces AS p USING (province_code)
        LEFT JOIN ref.aliases AS a
            ON a.city_code = c.city_code AND a.kind <> 'typo'
        WHERE c.city_code = $query
           OR lower(replace(c.name_zh, '''', '')) = $query
           OR lower(replace(c.short_zh, '''', '')) = $query
           OR lower(replace(c.name_en, '''', '')) = $query
           OR lower(replace(replace(a.alias, ' ', ''), '''', '')) = $query
        ORDER BY c.city_code
        """,
        {"query": query},
    ).df()
    if len(frame) == 1:
        return frame.iloc[0].to_dict()
    if len(frame) > 1:
        choices = ", ".join(
            f"{row.city_code} {row.name_zh} ({row.province_name_en})"
            for row in frame.itertuples()
        )
        raise TraceError(
            f"city {text!r} names {len(frame)} cities: {choices}; "
            "pass the division code instead"
        )
    raise TraceError(
        f"city {text!r} not found in ref.cities or ref.aliases; "
        f"close matches: {_close_cities(connection, query)}. "
        "Pass a 6-digit division code, a Chinese or an English city name"
    )


def _close_cities(connection: duckdb.DuckDBPyConnection, query: str) -> str:
    """Return the city names and codes most like `query`, as one line."""
    names = connection.execute(
        """
        SELECT lower(replace(name, '''', '')) AS key, name, city_code
        FROM (
            SELECT alias AS name, city_code FROM ref.aliases WHERE kind <> 'typo'
            UNION SELECT name_zh, city_code FROM ref.cities
            UNION SELECT name_en, city_code FROM ref.cities
            UNION SELECT city_code, city_code FROM ref.cities
        )
        WHERE name IS NOT NULL
        """
    ).df()
    labels = names.groupby("key")[["name", "city_code"]].first()
    close = difflib.get_close_matches(query, labels.index.tolist(), n=6, cutoff=0.5)
    if not close:
        return "none"
    return ", ".join(
        f"{labels.loc[key, 'name']} ({labels.loc[key, 'city_code']})" for key in close
    )


def _check_indicator(method: Method, indicator: str) -> None:
    known = [item.id for _, _, item in method.iter_indicators()]
    if indicator not in known:
        close = difflib.get_close_matches(indicator, known, n=5, cutoff=0.5)
        raise TraceError(
            f"indicator {indicator!r} is not in method {method.id!r}; "
            f"close matches: {close or 'none'}; indicators: {', '.join(known)}"
        )


def _read_levels(
    connection: duckdb.DuckDBPyConnection,
    key: dict[str, Any],
    city_row: dict[str, Any],
) -> dict[str, Any]:
    """Read the composite, dimension, group and indicator rows of one city."""
    where = (
        "WHERE edition = $edition AND method_id = $method_id AND city_code = $city_code"
    )
    composite = connection.execute(
        f"SELECT composite, coverage, ranked, rank FROM out.composite_scores {where}",
        key,
    ).df()
    if composite.empty:
        raise TraceError(
            f"city {city_row['city_code']} {city_row['name_zh']} "
            f"({city_row['name_en']}) has no scores in edition {key['edition']}, "
            f"method {key['method_id']}: it is not among the rated cities (wrong "
            "level, or no value for any indicator the method requires)"
        )
    dimensions = connection.execute(
        "SELECT dimension_id, score, weight, coverage "
        f"FROM out.dimension_scores {where}",
        key,
    ).df()
    groups = connection.execute(
        "SELECT dimension_id, group_id, score, weight, coverage "
        f"FROM out.group_scores {where}",
        key,
    ).df()
    indicators = connection.execute(
        f"SELECT * EXCLUDE (edition, method_id) FROM out.indicator_scores {where}",
        key,
    ).df()
    return {
        "composite": _records(composite)[0],
        "dimensions": {row["dimension_id"]: row for row in _records(dimensions)},
        "groups": {row["group_id"]: row for row in _records(groups)},
        "indicators": {row["indicator_id"]: row for row in _records(indicators)},
    }


def _read_cells(
    connection: duckdb.DuckDBPyConnection, key: dict[str, Any]
) -> list[dict[str, Any]]:
    """Read the raw.cells rows behind every indicator of the city, in input order."""
    frame = connection.execute(
        """
        WITH inputs AS (
            SELECT
                indicator_id,
                unnest(input_row_ids) AS raw_row_id,
                generate_subscripts(input_row_ids, 1) AS position
            FROM out.indicator_scores
            WHERE edition = $edition AND method_id = $method_id
              AND city_code = $city_code
        )
        SELECT i.indicator_id, i.position, i.raw_row_id,
               c.* EXCLUDE (raw_row_id), c.raw_row_id IS NOT NULL AS found
        FROM inputs AS i
        LEFT JOIN raw.cells AS c USING (raw_row_id)
        ORDER BY i.indicator_id, i.position
        """,
        key,
    ).df()
    return _records(frame)


def _records(frame) -> list[dict[str, Any]]:
    """Return the rows of a frame as dicts of plain Python values (NaN -> None)."""
    return [
        {name: _plain(value) for name, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _plain(value: Any) -> Any:
    """Return a JSON-ready value: NaN, NA and NaT become None, numpy scalars Python."""
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if value != value:  # pandas NA and NaT
            return None
    except TypeError:
        return None
    return value


# --------------------------------------------------------------------------- #
# leaves
# --------------------------------------------------------------------------- #


def _leaves_by_indicator(
    cells: list[dict[str, Any]], raw_root: Path, indicators: dict[str, dict]
) -> dict[str, list[dict[str, Any]]]:
    """Return the leaf nodes of every indicator: source cells, then register rows."""
    paths = _source_paths(
        raw_root, {(c["source_id"], c["file_sha256"]) for c in cells if c["found"]}
    )
    leaves: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        node = _cell_node(cell, paths)
        leaves.setdefault(cell["indicator_id"], []).append(node)
    register = _read_register()
    for indicator_id, row in indicators.items():
        if indicator_id in ("peak_target", "neutrality_target"):
            leaves.setdefault(indicator_id, []).extend(
                _register_nodes(row, indicator_id, register)
            )
    return leaves


def _source_paths(
    raw_root: Path, versions: set[tuple[str, str]]
) -> dict[tuple[str, str], Path | None]:
    """Map (source_id, sha256) to the file in the lake, raw/<id>/<sha256>/<name>."""
    try:
        manifest = load_manifest()
    except (ManifestError, OSError) as error:
        logger.warning("manifest not readable (%s); looking in the lake folders", error)
        manifest = {}
    paths: dict[tuple[str, str], Path | None] = {}
    for source_id, sha256 in versions:
        entry = manifest.get(source_id)
        candidate = None
        if entry is not None:
            candidate = lake.inside(
                raw_root, *lake_path(replace(entry, sha256=sha256)).parts[-3:]
            )
        if candidate is None or not candidate.is_file():
            # A source since dropped or renamed in the manifest still has its
            # folder in the lake, with the one file of that version.
            folder = raw_root / source_id / sha256
            files = sorted(folder.glob("*")) if folder.is_dir() else []
            candidate = files[0] if len(files) == 1 else candidate
        paths[(source_id, sha256)] = candidate
    return paths


def _cell_node(cell: dict[str, Any], paths: dict) -> dict[str, Any]:
    """Return the leaf node of one raw.cells row."""
    if not cell["found"]:
        return _leaf_base(
            "source_cell",
            cell["raw_row_id"],
            None,
            None,
            f"raw row id {cell['raw_row_id']} is not in raw.cells; the warehouse "
            "was rebuilt without this cell, so rerun the edition",
        ) | dict.fromkeys(_CELL_KEYS)
    path = paths.get((cell["source_id"], cell["file_sha256"]))
    formula = (
        f"original text {cell['original_text']!r} in column "
        f"{cell['column_header']!r} read as {_num(cell['value'])} {cell['unit']}"
    )
    if cell["value_text"]:
        formula += f" ({cell['value_text']})"
    node = _leaf_base(
        "source_cell", cell["raw_row_id"], cell["value"], cell["unit"], formula
    )
    node.update(
        {
            "source_id": cell["source_id"],
            "path": str(path) if path else None,
            "path_exists": bool(path and path.is_file()),
            "file_sha256": cell["file_sha256"],
            "sheet": cell["sheet"],
            "row": cell["row_number"],
            "column": cell["column_letter"],
            "column_header": cell["column_header"],
            "original_text": cell["original_text"],
            "value_text": cell["value_text"],
            "variable": cell["variable"],
            "year": cell["year"],
            "city_name": cell["city_name"],
            "province_name": cell["province_name"],
        }
    )
    return node


_CELL_KEYS = (
    "source_id",
    "path",
    "path_exists",
    "file_sha256",
    "sheet",
    "row",
    "column",
    "column_header",
    "original_text",
    "value_text",
    "variable",
    "year",
    "city_name",
    "province_name",
)


def _leaf_base(
    node_type: str, node_id: str, value: Any, unit: str | None, formula: str
) -> dict[str, Any]:
    return {
        "node_type": node_type,
        "id": node_id,
        "name_en": None,
        "name_zh": None,
        "value": value,
        "unit": unit,
        "formula": formula,
        "weights": None,
        "coverage": None,
        "children": [],
    }


def _read_register() -> list[list[str]]:
    """Return the records of the policy register CSV. Record 1 is the header."""
    # NOTE: the warehouse does not record the register's checksum, so a register
    # edited after the run may differ from the rows the scores used.
    with open(REGISTER_PATH, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _register_nodes(
    row: dict[str, Any], indicator_id: str, register: list[list[str]]
) -> list[dict[str, Any]]:
    """Return the register rows of the city and commitment, the counted one first.

    The row that `detail` names is the statement that counts at the cut-off
    (role `counted`) or the undated one that leaves the target undetermined
    (role `undetermined`). The city's other rows for the commitment, and its
    review rows, follow with role `other_statement` or `review`.
    """
    commitment = indicator_id.removesuffix("_target")
    header = register[0]
    columns = {name: header.index(name) for name in header}
    referenced = {}
    for match in _REGISTER_REFERENCE.finditer(row["detail"] or ""):
        role = "counted" if match.group(2) else "undetermined"
        referenced[int(match.group(1))] = role
    nodes = []
    for number, record in enumerate(register[1:], start=2):
        values = dict(zip(header, record, strict=False))
        if number in referenced:
            role = referenced[number]
        elif values.get("city_code") != row["city_code"]:
            continue
        elif values.get("commitment") == commitment:
            role = "other_statement"
        elif values.get("commitment") == "review":
            role = "review"
        else:
            continue
        nodes.append(_register_node(number, role, values, columns))
    order = {"counted": 0, "undetermined": 0, "other_statement": 1, "review": 2}
    return sorted(nodes, key=lambda node: order[node["role"]])


def _register_node(
    number: int, role: str, values: dict[str, str], columns: dict[str, int]
) -> dict[str, Any]:
    text = values.get("target_year", "")
    year = float(text) if text.strip().isdigit() else None
    formula = (
        f"policy register row {number} ({role}): {values.get('status')}, "
        f"target year {text or 'none'}, announced "
        f"{values.get('date_announced') or 'undated'}"
    )
    node = _leaf_base(
        "register_row", f"policy_register:{number}", year, "year", formula
    )
    node.update(
        {
            "role": role,
            "path": str(REGISTER_PATH),
            "row": number,
            "column": column_letter(columns["target_year"] + 1),
            "column_header": "target_year",
            "original_text": text,
            "commitment": values.get("commitment"),
            "status": values.get("status"),
            "document_title": values.get("document_title"),
            "url": values.get("url"),
            "date_announced": values.get("date_announced"),
            "date_reviewed": values.get("date_reviewed"),
        }
    )
    return node


# --------------------------------------------------------------------------- #
# inner nodes
# --------------------------------------------------------------------------- #


def _composite_node(
    levels: dict[str, Any],
    method: Method,
    leaves: dict[str, list[dict[str, Any]]],
    indicator_filter: str | None,
) -> dict[str, Any]:
    """Return the composite node with the whole tree below it."""
    composite = levels["composite"]
    indicators = levels["indicators"]
    dimension_rows = levels["dimensions"]
    present = _present_weight(
        [(d.weight, dimension_rows[d.id]["score"]) for d in method.tree]
    )
    children, omitted = [], []
    for dimension in method.tree:
        row = dimension_rows[dimension.id]
        ids = [i.id for g in dimension.groups for i in g.indicators]
        if indicator_filter is not None and indicator_filter not in ids:
            omitted.append(dimension.id)
            continue
        node = _dimension_node(dimension, row, levels, method, leaves, indicator_filter)
        node["weights"] = _weights(
            nominal=row["weight"],
            within_parent=row["weight"],
            present_total=present,
            score=row["score"],
            applied=_applied_sum(indicators, ids),
        )
        children.append(node)

    terms = [
        (d.id, dimension_rows[d.id]["weight"], dimension_rows[d.id]["score"])
        for d in method.tree
    ]
    formula = _aggregate_formula(terms, method, composite["composite"], "dimensions")
    if method.aggregation.method == "arithmetic":
        formula += "; the same as " + _applied_formula(indicators, method)
    node = _inner_base(
        "composite",
        "composite",
        "CCNI composite",
        "碳达峰碳中和指数",
        composite["composite"],
        formula,
        composite["coverage"],
        children,
        omitted,
    )
    node["weights"] = _weights(1.0, 1.0, 1.0, composite["composite"], 1.0)
    node["ranked"] = composite["ranked"]
    node["rank"] = composite["rank"]
    return node


def _dimension_node(dimension, row, levels, method, leaves, indicator_filter):
    group_rows = levels["groups"]
    indicators = levels["indicators"]
    present = _present_weight(
        [(g.weight, group_rows[g.id]["score"]) for g in dimension.groups]
    )
    children, omitted = [], []
    for group in dimension.groups:
        group_row = group_rows[group.id]
        ids = [i.id for i in group.indicators]
        if indicator_filter is not None and indicator_filter not in ids:
            omitted.append(group.id)
            continue
        node = _group_node(
            group,
            group_row,
            row["weight"],
            indicators,
            method,
            leaves,
            indicator_filter,
        )
        node["weights"] = _weights(
            nominal=row["weight"] * group_row["weight"],
            within_parent=group_row["weight"],
            present_total=present,
            score=group_row["score"],
            applied=_applied_sum(indicators, ids),
        )
        children.append(node)
    terms = [
        (g.id, group_rows[g.id]["weight"], group_rows[g.id]["score"])
        for g in dimension.groups
    ]
    formula = _aggregate_formula(terms, method, row["score"], "groups")
    return _inner_base(
        "dimension",
        dimension.id,
        dimension.name_en,
        dimension.name_zh,
        row["score"],
        formula,
        row["coverage"],
        children,
        omitted,
    )


def _group_node(
    group, row, dimension_weight, indicators, method, leaves, indicator_filter
):
    group_indicators = [indicators[i.id] for i in group.indicators]
    within = {
        r["indicator_id"]: _within_group(r, row["weight"], dimension_weight)
        for r in group_indicators
    }
    present = _present_weight(
        [(within[r["indicator_id"]], r["score"]) for r in group_indicators]
    )
    children, omitted = [], []
    for spec, indicator_row in zip(group.indicators, group_indicators, strict=True):
        if indicator_filter is not None and indicator_filter != spec.id:
            omitted.append(spec.id)
            continue
        node = _indicator_node(spec, indicator_row, method, leaves.get(spec.id, []))
        node["weights"] = _weights(
            nominal=indicator_row["nominal_weight"],
            within_parent=within[spec.id],
            present_total=present,
            score=indicator_row["score"],
            applied=indicator_row["applied_weight"],
        )
        children.append(node)
    terms = [
        (r["indicator_id"], within[r["indicator_id"]], r["score"])
        for r in group_indicators
    ]
    formula = _aggregate_formula(terms, method, row["score"], "indicators")
    return _inner_base(
        "group",
        group.id,
        group.name_en,
        group.name_zh,
        row["score"],
        formula,
        row["coverage"],
        children,
        omitted,
    )


def _within_group(
    indicator_row: dict[str, Any], group_weight: float, dimension_weight: float
) -> float:
    """Return the indicator's method weight inside its group.

    The warehouse stores nominal = dimension x group x indicator weight, so the
    indicator's share is nominal / (dimension weight x group weight).
    """
    return indicator_row["nominal_weight"] / (group_weight * dimension_weight)


def _inner_base(
    node_type, node_id, name_en, name_zh, value, formula, coverage, children, omitted
) -> dict[str, Any]:
    return {
        "node_type": node_type,
        "id": node_id,
        "name_en": name_en,
        "name_zh": name_zh,
        "value": value,
        "unit": SCORE_UNIT,
        "formula": formula,
        "weights": None,
        "coverage": coverage,
        "children": children,
        "children_omitted": omitted,
    }


def _present_weight(pairs: list[tuple[float, float | None]]) -> float:
    return sum(weight for weight, score in pairs if score is not None)


def _applied_sum(indicators: dict[str, dict], ids: list[str]) -> float:
    return sum(indicators[i]["applied_weight"] or 0.0 for i in ids)


def _weights(
    nominal: float,
    within_parent: float,
    present_total: float,
    score: float | None,
    applied: float,
) -> dict[str, float]:
    rescaled = (
        within_parent / present_total if score is not None and present_total else 0.0
    )
    return {
        "nominal": nominal,
        "within_parent": within_parent,
        "within_parent_rescaled": rescaled,
        "applied": applied,
    }


def _aggregate_formula(
    terms: list[tuple[str, float, float | None]],
    method: Method,
    stored: float | None,
    children_name: str,
) -> str:
    """Return the aggregation of `terms` (id, weight, score) with the numbers."""
    present = [(name, w, s) for name, w, s in terms if s is not None]
    missing = [name for name, _, s in terms if s is None]
    if not present:
        return f"no {children_name} with a score, so no score"
    weights = " + ".join(_num(w) for _, w, _ in present)
    if method.aggregation.method == "geometric":
        floor = _num(method.aggregation.geometric_floor)
        products = " + ".join(
            f"{_num(w)} * ln(max({_num(s)}, {floor})) [{name}]"
            for name, w, s in present
        )
        text = (
            f"exp(sum(w * ln(max(score, {floor}))) / sum(w)) over {children_name} "
            f"with a score = exp(({products}) / ({weights})) = {_num(stored)}"
        )
    else:
        products = " + ".join(
            f"{_num(w)} * {_num(s)} [{name}]" for name, w, s in present
        )
        text = (
            f"sum(w * score) / sum(w) over {children_name} with a score = "
            f"({products}) / ({weights}) = {_num(stored)}"
        )
    if missing:
        text += f"; left out (no score): {', '.join(missing)}"
    return text


def _applied_formula(indicators: dict[str, dict], method: Method) -> str:
    ids = [i.id for _, _, i in method.iter_indicators()]
    present = [indicators[i] for i in ids if indicators[i]["score"] is not None]
    products = " + ".join(
        f"{_num(r['applied_weight'])} * {_num(r['score'])}" for r in present
    )
    total = sum(r["applied_weight"] * r["score"] for r in present)
    return f"sum(applied_weight * indicator score) = {products} = {_num(total)}"


# --------------------------------------------------------------------------- #
# indicators
# --------------------------------------------------------------------------- #


def _indicator_node(spec, row, method: Method, leaves: list[dict]) -> dict[str, Any]:
    """Return one indicator node: score, raw value, normalisation and inputs."""
    raw_formula, recomputed = _raw_value_formula(row, leaves)
    node = _inner_base(
        "indicator",
        spec.id,
        spec.name_en,
        spec.name_zh,
        row["score"],
        _score_formula(row, method),
        None,
        leaves,
        [],
    )
    node["coverage"] = row["nominal_weight"] if row["score"] is not None else 0.0
    node.update(
        {
            "kind": row["kind"],
            "direction": row["direction"],
            "raw_value": row["value"],
            "raw_unit": row["unit"] or row["default_unit"],
            "raw_value_formula": raw_formula,
            "raw_value_recomputed": recomputed,
            "data_year": _year(row["data_year"]),
            "window_start": _year(row["window_start"]),
            "detail": row["detail"],
            "category": row["category"],
            "is_proxy": row["is_proxy"],
            "is_missing": row["is_missing"],
            "missing_reason": row["reason"] or None,
            "normalisation": _normalisation(row, method),
        }
    )
    return node


def _year(value: float | None) -> int | None:
    return None if value is None else int(value)


def _normalisation(row: dict[str, Any], method: Method) -> dict[str, Any]:
    """Return how the raw value became the score: bounds, or the scoring table."""
    if row["kind"] == "numeric":
        settings = method.normalisation
        return {
            "method": settings.method,
            "direction": row["direction"],
            "winsor_lower": settings.winsor_lower,
            "winsor_upper": settings.winsor_upper,
            "lower_bound": row["lower_bound"],
            "upper_bound": row["upper_bound"],
            "clipped_value": row["clipped_value"],
            "clipped_mean": row["clipped_mean"],
            "clipped_sd": row["clipped_sd"],
            "z_value": row["z_value"],
            "goalpost_low": row["goalpost_low"],
            "goalpost_high": row["goalpost_high"],
        }
    table_name = SCORING_TABLES.get(row["indicator_id"])
    return {
        "method": "scoring_table" if table_name else "value_is_score",
        "direction": row["direction"],
        "table": table_name,
        "state": row["category"],
        "score": row["preset_score"],
        "entries": method.scoring.get(table_name) if table_name else None,
    }


def _score_formula(row: dict[str, Any], method: Method) -> str:
    """Return how the indicator's score follows from its raw value."""
    if row["is_missing"]:
        return (
            f"no score: {row['reason']}; the indicator is left out and the other "
            "weights of its group are rescaled"
        )
    if row["kind"] == "scored":
        return _scored_formula(row, method)
    return _numeric_formula(row, method.normalisation.method)


def _scored_formula(row: dict[str, Any], method: Method) -> str:
    indicator_id = row["indicator_id"]
    score = _num(row["score"])
    table_name = SCORING_TABLES.get(indicator_id)
    if table_name is None:
        return f"the raw value is the score: {_num(row['value'])} = {score}"
    if row["category"] == "target_year":
        bands = method.scoring[table_name]["by_year"]
        band = next((b for b in bands if row["value"] <= b["max_year"]), None)
        rule = f"<= {band['max_year']}" if band else "after every band"
        return (
            f"scoring table {table_name}.by_year: target year "
            f"{_num(row['value'])} {rule} -> {score}"
        )
    return f"scoring table {table_name}: state {row['category']} -> {score}"


def _numeric_formula(row: dict[str, Any], normalisation: str) -> str:
    value, low, high = row["value"], row["lower_bound"], row["upper_bound"]
    score = _num(row["score"])
    clipped = (
        f"clipped_value = min(max(value, lower_bound), upper_bound) = "
        f"min(max({_num(value)}, {_num(low)}), {_num(high)}) = "
        f"{_num(row['clipped_value'])}"
    )
    if normalisation == "goalposts":
        g_low, g_high = row["goalpost_low"], row["goalpost_high"]
        position = (
            f"min(max(({_num(value)} - {_num(g_low)}) / ({_num(g_high)} - "
            f"{_num(g_low)}), 0), 1) * 100"
        )
        if row["direction"] == "-":
            return f"100 - {position} = {score} (direction -, goalposts)"
        return f"{position} = {score} (direction +, goalposts)"
    if high == low:
        return f"all rated cities share the value {_num(low)}, so the score is 100"
    if normalisation == "rank":
        return (
            f"percent rank of the value among the rated cities with a value, "
            f"best = 100 (direction {row['direction']}) = {score}"
        )
    if normalisation == "zscore":
        sign = "" if row["direction"] == "+" else " * -1"
        return (
            f"100 * Phi(z) = 100 * Phi({_num(row['z_value'])}) = {score}, with "
            f"z = (clipped_value - mean) / sd{sign} = ({_num(row['clipped_value'])} - "
            f"{_num(row['clipped_mean'])}) / {_num(row['clipped_sd'])}{sign}; {clipped}"
        )
    if row["direction"] == "+":
        return (
            f"(clipped_value - lower_bound) / (upper_bound - lower_bound) * 100 = "
            f"({_num(row['clipped_value'])} - {_num(low)}) / ({_num(high)} - "
            f"{_num(low)}) * 100 = {score}; {clipped}"
        )
    return (
        f"(upper_bound - clipped_value) / (upper_bound - lower_bound) * 100 = "
        f"({_num(high)} - {_num(row['clipped_value'])}) / ({_num(high)} - "
        f"{_num(low)}) * 100 = {score}; {clipped}"
    )


# --------------------------------------------------------------------------- #
# raw values from the inputs
# --------------------------------------------------------------------------- #


def _raw_value_formula(
    row: dict[str, Any], leaves: list[dict[str, Any]]
) -> tuple[str, float | None]:
    """Return how the raw value follows from the inputs, and the recomputed value.

    The recomputed value is None where the inputs alone do not give it (policy
    states, the province pilot batch, a missing indicator).
    """
    if row["is_missing"] and row["value"] is None:
        return f"no value: {row['reason']}", None
    cells = [leaf for leaf in leaves if leaf["node_type"] == "source_cell"]
    builder = _VALUE_FORMULAS.get(row["indicator_id"])
    text, recomputed = builder(row, cells) if builder else (None, None)
    if text is None:
        return f"{row['detail']}", None
    if recomputed is not None and row["value"] is not None:
        stored = row["value"]
        if not math.isclose(recomputed, stored, rel_tol=RECOMPUTE_TOLERANCE):
            text += f" (MISMATCH: stored value {_num(stored)})"
    return text, recomputed


def _by_prefix(cells: list[dict], *prefixes: str) -> list[dict]:
    return [c for c in cells if (c["variable"] or "").startswith(prefixes)]


def _one(cells: list[dict], *prefixes: str) -> dict | None:
    found = _by_prefix(cells, *prefixes)
    return found[0] if len(found) == 1 else None


def _ratio(
    numerator: dict | None,
    denominator: dict | None,
    factor: float,
    names: tuple[str, str],
    denominator_factor: float = 1.0,
) -> tuple[str | None, float | None]:
    """Return 'a * factor / b = ...' for two input cells."""
    if numerator is None or denominator is None:
        return None, None
    bottom = denominator["value"] * denominator_factor
    value = numerator["value"] * factor / bottom
    bottom_text = _num(denominator["value"])
    if denominator_factor != 1.0:
        bottom_text += f" * {_num(denominator_factor)}"
    factor_text = f" * {_num(factor)}" if factor != 1.0 else ""
    return (
        f"{names[0]}{factor_text} / {names[1]} = {_num(numerator['value'])}"
        f"{factor_text} / ({bottom_text}) = {_num(value)}",
        value,
    )


def _co2_per_capita(row, cells):
    return _ratio(
        _one(cells, "co2_mt"),
        _one(cells, "population_"),
        100.0,
        ("co2_mt", "population_10k"),
    )


def _carbon_intensity(row, cells):
    return _ratio(
        _one(cells, "co2_mt"),
        _one(cells, "gdp_real_2000_100m_yuan"),
        100.0,
        ("co2_mt", "gdp_real_2000_100m_yuan"),
    )


def _secondary_share(row, cells):
    return _ratio(
        _one(cells, "va_secondary_100m_yuan"),
        _one(cells, "gdp_nominal_100m_yuan"),
        100.0,
        ("va_secondary_100m_yuan", "gdp_nominal_100m_yuan"),
    )


def _electricity_intensity(row, cells):
    electricity = _one(cells, "electricity_total_10k_kwh")
    yearbook_gdp = _one(cells, "gdp_10k_yuan")
    if yearbook_gdp is not None:
        return _ratio(
            electricity,
            yearbook_gdp,
            10000.0,
            ("electricity_total_10k_kwh", "gdp_10k_yuan"),
        )
    # the yearbook had no GDP, so the city panel's GDP in 100m yuan is used,
    # times 10000 for 10k yuan
    return _ratio(
        electricity,
        _one(cells, "gdp_nominal_100m_yuan"),
        10000.0,
        ("electricity_total_10k_kwh", "(gdp_nominal_100m_yuan * 10000)"),
        denominator_factor=10000.0,
    )


def _buses_per_10k(row, cells):
    return _ratio(
        _one(cells, "buses_operating"),
        _one(cells, "population_"),
        1.0,
        ("buses_operating", "population_10k"),
    )


def _non_fossil_share(row, cells):
    generation = _by_prefix(cells, "power_gen_")
    if not generation:
        return None, None
    clean = [c for c in generation if c["variable"] in NON_FOSSIL_VARIABLES]
    clean_total = sum(c["value"] for c in clean)
    total = sum(c["value"] for c in generation)
    value = clean_total / total * 100

    def names(items: list[dict]) -> str:
        return " + ".join(
            f"{_num(c['value'])} [{c['variable'].removeprefix('power_gen_')}]"
            for c in items
        )

    return (
        "(hydro + wind + nuclear + solar) / (thermal + hydro + wind + nuclear + "
        f"solar) * 100 = ({names(clean)}) / ({names(generation)}) * 100 "
        f"= {_num(value)}",
        value,
    )


def _co2_series(cells):
    return sorted(_by_prefix(cells, "co2_mt"), key=lambda c: c["year"])


def _co2_growth(row, cells):
    series = _co2_series(cells)
    if len(series) < 2:
        return None, None
    first, last = series[0], series[-1]
    years = last["year"] - first["year"]
    value = ((last["value"] / first["value"]) ** (1.0 / years) - 1) * 100
    return (
        f"((co2_mt {last['year']} / co2_mt {first['year']}) ^ (1 / {years}) - 1) * 100"
        f" = (({_num(last['value'])} / {_num(first['value'])}) ^ (1 / {years}) - 1)"
        f" * 100 = {_num(value)}",
        value,
    )


def _decoupling(row, cells):
    co2 = _co2_series(cells)
    gdp = sorted(_by_prefix(cells, "gdp_real_2000_100m_yuan"), key=lambda c: c["year"])
    if len(co2) != 2 or len(gdp) != 2:
        return None, None
    (c0, c1), (g0, g1) = [c["value"] for c in co2], [g["value"] for g in gdp]
    value = ((c1 - c0) / c0) / ((g1 - g0) / g0)
    return (
        "((co2_end - co2_start) / co2_start) / ((gdp_end - gdp_start) / gdp_start)"
        f" = (({_num(c1)} - {_num(c0)}) / {_num(c0)}) / (({_num(g1)} - {_num(g0)})"
        f" / {_num(g0)}) = {_num(value)} (Tapio elasticity; real GDP, 2000 prices)",
        value,
    )


def _peak_trend(row, cells):
    series = _co2_series(cells)
    if len(series) < 2:
        return None, None
    values = [c["value"] for c in series]
    statistic = sum(
        (values[j] > values[i]) - (values[j] < values[i])
        for i in range(len(values))
        for j in range(i + 1, len(values))
    )
    listing = ", ".join(f"{c['year']}: {_num(c['value'])}" for c in series)
    return (
        f"Mann-Kendall S = sum over year pairs i < j of sign(co2_j - co2_i) over "
        f"{listing} = {statistic}",
        float(statistic),
    )


def _pilot_status(row, cells):
    pilot = _one(cells, "pilot_year")
    if pilot is None:
        return None, None
    return (
        f"pilot year from {pilot['source_id']} row {pilot['row']}: "
        f"{_num(pilot['value'])} ({pilot['value_text']})",
        pilot["value"],
    )


def _disclosure(row, cells):
    match = re.match(r"statistics present: (.*); absent: (.*)", row["detail"] or "")
    if match is None:
        return None, None
    present, absent = (
        [] if part == "none" else part.split(", ") for part in match.groups()
    )
    listed = len(present) + len(absent)
    value = len(present) / listed * 100
    return (
        f"statistics present / statistics listed * 100 = {len(present)} / {listed}"
        f" * 100 = {_num(value)}; present: {', '.join(present) or 'none'}; "
        f"absent: {', '.join(absent) or 'none'}",
        value,
    )


_VALUE_FORMULAS = {
    "co2_per_capita": _co2_per_capita,
    "carbon_intensity": _carbon_intensity,
    "secondary_share": _secondary_share,
    "electricity_intensity": _electricity_intensity,
    "buses_per_10k": _buses_per_10k,
    "non_fossil_share": _non_fossil_share,
    "co2_growth": _co2_growth,
    "decoupling": _decoupling,
    "peak_trend": _peak_trend,
    "pilot_status": _pilot_status,
    "disclosure": _disclosure,
}


def format_number(value: float | int | bool | None) -> str:
    """Format a number with up to 10 significant digits, None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return f"{value:.10g}"


_num = format_number


# --------------------------------------------------------------------------- #
# renderers
# --------------------------------------------------------------------------- #


def render_json(tree: dict[str, Any]) -> str:
    """Return the trace as JSON, keys in the documented order, UTF-8 text."""
    return json.dumps(tree, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def render_text(tree: dict[str, Any]) -> str:
    """Return the trace as an indented text tree with every number."""
    city = tree["city"]
    method = tree["method"]
    lines = [
        f"CCNI trace: {city['name_zh']} {city['name_en']} ({city['city_code']}), "
        f"{city['province_name_zh']} {city['province_name_en']}",
        f"edition {tree['edition']}, method {method['method_id']} "
        f"(hash {method['method_hash'][:12]}, normalisation {method['normalisation']}, "
        f"aggregation {method['aggregation']})",
        f"warehouse {tree['warehouse']}",
    ]
    if tree["indicator_filter"]:
        lines.append(f"limited to indicator {tree['indicator_filter']}")
    lines.append("")
    _text_node(tree["root"], 0, lines)
    return "\n".join(lines) + "\n"


def _text_node(node: dict[str, Any], depth: int, lines: list[str]) -> None:
    pad = "  " * depth
    detail_pad = pad + "  | "
    if node["node_type"] == "source_cell":
        lines.extend(pad + line for line in _cell_lines(node))
        return
    if node["node_type"] == "register_row":
        lines.extend(pad + line for line in _register_lines(node))
        return

    names = " ".join(part for part in (node["name_en"], node["name_zh"]) if part)
    lines.append(
        f"{pad}[{node['node_type']}] {node['id']} {names}: "
        f"{_num(node['value'])} {node['unit']}"
    )
    lines.append(f"{detail_pad}formula: {node['formula']}")
    if node["weights"]:
        w = node["weights"]
        lines.append(
            f"{detail_pad}weights: nominal {_num(w['nominal'])}, within parent "
            f"{_num(w['within_parent'])}, rescaled {_num(w['within_parent_rescaled'])}"
            f", applied {_num(w['applied'])}; coverage {_num(node['coverage'])}"
        )

    if node["node_type"] == "composite":
        lines.append(
            f"{detail_pad}ranked {_num(node['ranked'])}, rank {_num(node['rank'])}"
        )
    if node["node_type"] == "indicator":
        lines.extend(detail_pad + line for line in _indicator_lines(node))
    if node.get("children_omitted"):
        lines.append(f"{detail_pad}not shown: {', '.join(node['children_omitted'])}")

    for child in node["children"]:
        _text_node(child, depth + 1, lines)


def _indicator_lines(node: dict[str, Any]) -> list[str]:
    norm = node["normalisation"]
    settings = ", ".join(
        f"{key} {_num(value) if not isinstance(value, str) else value}"
        for key, value in norm.items()
        if key != "entries" and value is not None
    )
    lines = [
        f"raw value: {_num(node['raw_value'])} {node['raw_unit']}, data year "
        f"{_num(node['data_year'])}, window start {_num(node['window_start'])}, "
        f"kind {node['kind']}, direction {node['direction']}",
        f"raw value formula: {node['raw_value_formula']}",
        f"detail: {node['detail'] or ''}",
        f"normalisation: {settings}",
        f"proxy {_num(node['is_proxy'])}, missing {_num(node['is_missing'])}"
        + (f": {node['missing_reason']}" if node["missing_reason"] else ""),
    ]
    if norm.get("entries"):
        lines.append(
            f"scoring table: {json.dumps(norm['entries'], ensure_ascii=False)}"
        )
    return lines


def _cell_lines(node: dict[str, Any]) -> list[str]:
    if node["source_id"] is None:
        return [f"- source cell {node['id']}: {node['formula']}"]
    place = f"sheet {node['sheet']!r} " if node["sheet"] else ""
    return [
        f"- source cell {node['id']}: {node['source_id']} {node['variable']} "
        f"{_num(node['year'])} = {_num(node['value'])} {node['unit']}",
        f"    {place}cell {node['column']}{node['row']} "
        f"(row {node['row']}, column {node['column']}: {node['column_header']!r})"
        f", original text {node['original_text']!r}"
        + (f", note: {node['value_text']}" if node["value_text"] else ""),
        f"    file {node['path']} (sha256 {node['file_sha256']})"
        + ("" if node["path_exists"] else " [file not found in the lake]"),
    ]


def _register_lines(node: dict[str, Any]) -> list[str]:
    return [
        f"- policy register row {node['row']} ({node['role']}): {node['commitment']}"
        f" {node['status']}, target year {node['original_text'] or 'none'}, "
        f"announced {node['date_announced'] or 'undated'}",
        f"    {node['document_title']}; {node['url']}",
        f"    file {node['path']}, row {node['row']}, column {node['column']} "
        f"({node['column_header']})",
    ]


# --------------------------------------------------------------------------- #
# command line
# --------------------------------------------------------------------------- #


def add_trace_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `trace` command to the `ccni` sub-command parsers."""
    trace = commands.add_parser(
        "trace",
        help="show how one city's composite score is built, down to the source cells",
    )
    trace.add_argument("--edition", type=int, required=True, help="index edition")
    trace.add_argument(
        "--city",
        required=True,
        help="division code (440300), Chinese name (深圳, 深圳市) or English name",
    )
    trace.add_argument("--indicator", help="show only the path to this indicator id")
    trace.add_argument(
        "--method", help="method id (default: the edition's only or default method)"
    )
    trace.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="output format (default text)",
    )
    trace.add_argument(
        "--output",
        help="file to write; default: standard output for text and json, "
        "exports/<edition>/trace_<city_code>.html in the lake for html",
    )
    trace.set_defaults(handler=command_trace)
    return trace


def command_trace(arguments: argparse.Namespace) -> int:
    """Run `ccni trace`: build the trace and write it in the requested format."""
    from ccni_pipeline.lineage.audit_page import render_html

    tree = build_trace(
        lake.warehouse_path(),
        arguments.edition,
        arguments.city,
        method_id=arguments.method,
        indicator=arguments.indicator,
    )
    renderers = {"text": render_text, "json": render_json, "html": render_html}
    content = renderers[arguments.format](tree)
    output = arguments.output
    if output is None and arguments.format == "html":
        output = default_html_path(tree)
    if output is None:
        sys.stdout.write(content)
        return 0
    path = Path(output)
    _write_atomically(path, content)
    sys.stdout.write(f"wrote the trace of {tree['city']['city_code']} to {path}\n")
    return 0


def default_html_path(tree: dict[str, Any]) -> Path:
    """Return exports/<edition>/[<method_id>/]trace_<city_code>.html in the lake."""
    method_id = tree["method"]["method_id"]
    folder = lake.exports_dir(
        tree["edition"], None if method_id == load_method().id else method_id
    )
    return folder / f"trace_{tree['city']['city_code']}.html"


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(content, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
