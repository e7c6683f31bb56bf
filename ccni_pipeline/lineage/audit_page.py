"""The trace of one city as a self-contained HTML page for auditors.

`render_html` turns the tree of `trace.build_trace` into one HTML file with inline
CSS and a few lines of inline JavaScript (expand all, collapse all). The page loads
nothing from elsewhere, so it reads the same offline and can be passed on as one
file. Each node is a `<details>` element. Every text from the warehouse or a
source file is HTML-escaped, and source URLs are shown as text, not as links.
"""

import html
import json
import logging
from typing import Any

from ccni_pipeline.lineage.trace import format_number as _num

logger = logging.getLogger(__name__)

_STYLE = """
body { font: 14px/1.45 system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em;
       color: #1b1b1b; max-width: 80em; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #555; margin: 0.1em 0; }
details { margin: 0.25em 0 0.25em 1.2em; border-left: 2px solid #d0d7de;
          padding-left: 0.6em; }
summary { cursor: pointer; padding: 0.15em 0; }
summary .value { font-weight: 600; }
.kind { font-size: 0.8em; text-transform: uppercase; color: #fff;
        border-radius: 3px; padding: 0 0.4em; margin-right: 0.4em; }
.composite .kind { background: #24292f; } .dimension .kind { background: #0969da; }
.group .kind { background: #8250df; } .indicator .kind { background: #1a7f37; }
.missing > summary { color: #9a6700; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1em;
     margin: 0.3em 0 0.5em 0; }
dt { color: #555; } dd { margin: 0; overflow-wrap: anywhere; }
code, .formula { font-family: ui-monospace, monospace; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.4em 0 0.6em 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.2em 0.45em; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.path { overflow-wrap: anywhere; max-width: 28em; }
.mismatch { color: #cf222e; font-weight: 600; }
button { margin-right: 0.5em; }
"""

_SCRIPT = """
function setAll(open) {
  document.querySelectorAll('details').forEach(function (d) { d.open = open; });
}
"""


def render_html(tree: dict[str, Any]) -> str:
    """Return the trace as one self-contained HTML page."""
    city = tree["city"]
    method = tree["method"]
    root = tree["root"]
    title = (
        f"CCNI trace: {city['name_zh']} {city['name_en']} ({city['city_code']}), "
        f"edition {tree['edition']}"
    )
    header = [
        f"<h1>{_e(title)}</h1>",
        _meta(
            f"{city['province_name_zh']} {city['province_name_en']}, "
            f"level {city['level']}"
        ),
        _meta(
            f"method {method['method_id']} (sha256 {method['method_hash']}), "
            f"normalisation {method['normalisation']}, aggregation "
            f"{method['aggregation']}, recorded {method['recorded_at']}"
        ),
        _meta(
            f"composite {_num(root['value'])}, coverage {_num(root['coverage'])}, "
            f"rank {_num(root['rank'])} (ranked: {_num(root['ranked'])})"
        ),
        _meta(f"warehouse {tree['warehouse']}"),
    ]
    if tree["indicator_filter"]:
        header.append(_meta(f"limited to indicator {tree['indicator_filter']}"))
    body = "\n".join(
        [
            *header,
            '<p><button type="button" onclick="setAll(true)">expand all</button>'
            '<button type="button" onclick="setAll(false)">collapse all</button></p>',
            _node_html(root, depth=0),
            "<h2>Trace as JSON</h2>",
            "<details><summary>format "
            f"{_e(tree['format'])} version {tree['version']}</summary>",
            f"<pre>{_e(json.dumps(tree, ensure_ascii=False, indent=1))}</pre>",
            "</details>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-Hans-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n"
        f"<style>{_STYLE}</style>\n<script>{_SCRIPT}</script>\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text))


def _meta(text: str) -> str:
    return f'<p class="meta">{_e(text)}</p>'


def _node_html(node: dict[str, Any], depth: int) -> str:
    """Return one inner node and its children as nested <details> elements."""
    classes = node["node_type"]
    if node["node_type"] == "indicator" and node["is_missing"]:
        classes += " missing"
    is_open = " open" if depth < 2 else ""
    names = " ".join(part for part in (node["name_en"], node["name_zh"]) if part)
    summary = (
        f'<summary><span class="kind">{_e(node["node_type"])}</span>'
        f"<code>{_e(node['id'])}</code> {_e(names)}: "
        f'<span class="value">{_e(_num(node["value"]))}</span> {_e(node["unit"])}'
        "</summary>"
    )
    parts = [f'<details class="{classes}"{is_open}>', summary, _facts(node)]
    leaves = [c for c in node["children"] if c["node_type"] == "source_cell"]
    register = [c for c in node["children"] if c["node_type"] == "register_row"]
    inner = [c for c in node["children"] if c not in leaves and c not in register]
    parts.extend(_node_html(child, depth + 1) for child in inner)
    if leaves:
        parts.append(_cell_table(leaves))
    if register:
        parts.append(_register_table(register))
    parts.append("</details>")
    return "\n".join(parts)


def _facts(node: dict[str, Any]) -> str:
    rows = [("formula", f'<span class="formula">{_e(node["formula"])}</span>')]
    weights = node["weights"]
    if weights:
        rows.append(
            (
                "weights",
                _e(
                    f"nominal {_num(weights['nominal'])}, within parent "
                    f"{_num(weights['within_parent'])}, rescaled "
                    f"{_num(weights['within_parent_rescaled'])}, applied "
                    f"{_num(weights['applied'])}"
                ),
            )
        )
    rows.append(("coverage", _e(_num(node["coverage"]))))
    if node["node_type"] == "indicator":
        rows.extend(_indicator_facts(node))
    if node.get("children_omitted"):
        rows.append(("not shown", _e(", ".join(node["children_omitted"]))))
    items = "".join(f"<dt>{_e(label)}</dt><dd>{value}</dd>" for label, value in rows)
    return f"<dl>{items}</dl>"


def _indicator_facts(node: dict[str, Any]) -> list[tuple[str, str]]:
    formula = _e(node["raw_value_formula"])
    if "MISMATCH" in (node["raw_value_formula"] or ""):
        formula = f'<span class="mismatch">{formula}</span>'
    normalisation = ", ".join(
        f"{key} {value if isinstance(value, str) else _num(value)}"
        for key, value in node["normalisation"].items()
        if key != "entries" and value is not None
    )
    rows = [
        ("raw value", _e(f"{_num(node['raw_value'])} {node['raw_unit'] or ''}")),
        ("raw value formula", f'<span class="formula">{formula}</span>'),
        (
            "years",
            _e(
                f"data year {_num(node['data_year'])}, window start "
                f"{_num(node['window_start'])}"
            ),
        ),
        ("detail", _e(node["detail"])),
        ("kind, direction", _e(f"{node['kind']}, {node['direction']}")),
        ("normalisation", _e(normalisation)),
        ("proxy", _e(_num(node["is_proxy"]))),
        ("missing", _e(f"{_num(node['is_missing'])} {node['missing_reason'] or ''}")),
    ]
    entries = node["normalisation"].get("entries")
    if entries:
        rows.append(("scoring table", _e(json.dumps(entries, ensure_ascii=False))))
    return rows


_CELL_COLUMNS = [
    ("source", "source_id"),
    ("variable", "variable"),
    ("year", "year"),
    ("original text", "original_text"),
    ("value", "value"),
    ("unit", "unit"),
    ("note", "value_text"),
    ("sheet", "sheet"),
    ("cell", None),
    ("column header", "column_header"),
    ("file", "path"),
    ("sha256", "file_sha256"),
    ("raw row id", "id"),
]


def _cell_table(leaves: list[dict[str, Any]]) -> str:
    header = "".join(f"<th>{_e(label)}</th>" for label, _ in _CELL_COLUMNS)
    rows = []
    for leaf in leaves:
        cells = []
        for _, key in _CELL_COLUMNS:
            if key is None:
                text = f"{leaf['column'] or ''}{leaf['row'] or ''}"
            elif key == "value":
                text = _num(leaf["value"])
            else:
                text = leaf[key]
            css = ' class="path"' if key == "path" else ""
            cells.append(f"<td{css}>{_e(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        "<table><caption>source cells</caption>"
        f"<tr>{header}</tr>{''.join(rows)}</table>"
    )


_REGISTER_COLUMNS = [
    ("row", "row"),
    ("role", "role"),
    ("commitment", "commitment"),
    ("status", "status"),
    ("target year", "original_text"),
    ("announced", "date_announced"),
    ("document", "document_title"),
    ("URL", "url"),
    ("file", "path"),
]


def _register_table(leaves: list[dict[str, Any]]) -> str:
    header = "".join(f"<th>{_e(label)}</th>" for label, _ in _REGISTER_COLUMNS)
    rows = [
        "<tr>"
        + "".join(
            f"<td{' class=path' if key in ('path', 'url') else ''}>{_e(leaf[key])}</td>"
            for _, key in _REGISTER_COLUMNS
        )
        + "</tr>"
        for leaf in leaves
    ]
    return (
        "<table><caption>policy register rows</caption>"
        f"<tr>{header}</tr>{''.join(rows)}</table>"
    )
