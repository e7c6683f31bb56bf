"""`ccni trace` on edition 2022, checked against the source files and by recomputation.

Three cities: Beijing (110000), Shenzhen (440300, Guangdong) and Wuhan (420100,
Hubei: yearbook indicators and a peak target from policy register row 37). Every
leaf of each trace is opened with a reader independent of the pipeline (openpyxl
by cell address, the csv module by row and column) and must hold the traced
original text. Every inner value is recomputed here from its children.

Cells looked up by hand:
- 2000-2023地级市产业结构.xlsx, sheet 面板数据2000-2023, H4680 = 10454.0126953125
  (Shenzhen secondary value added 2020, 100m yuan);
- net_zero_tracker_CN_Target.csv, line 13, column E = 2060 (Shenzhen, CN SNZ);
- policy_register.csv, row 37: 420100 peak, target 2022, announced 2018-01.
"""

import argparse
import csv
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from ccni_pipeline.lineage.audit_page import render_html
from ccni_pipeline.lineage.trace import (
    TRACE_VERSION,
    TraceError,
    add_trace_parser,
    build_trace,
    render_json,
    render_text,
)
from ccni_pipeline.sources.manifest import load_manifest

CITIES = ("110000", "440300", "420100")
CHROMIUM = "/usr/bin/chromium"
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def warehouse(edition_2022) -> Path:
    return edition_2022.lake / "warehouse.duckdb"


@pytest.fixture(scope="module")
def traces(warehouse) -> dict[str, dict]:
    return {code: build_trace(warehouse, 2022, code) for code in CITIES}


def walk(node: dict):
    yield node
    for child in node["children"]:
        yield from walk(child)


def nodes_of(tree: dict, node_type: str) -> list[dict]:
    return [node for node in walk(tree["root"]) if node["node_type"] == node_type]


class IndependentReader:
    """Opens source files with openpyxl or the csv module, one open per file."""

    def __init__(self):
        self.workbooks = {}
        self.csv_rows = {}

    def cell(self, path: str, sheet: str, column: str, row: int) -> object:
        if path.endswith(".xlsx"):
            if path not in self.workbooks:
                self.workbooks[path] = openpyxl.load_workbook(
                    path, read_only=True, data_only=True
                )
            return self.workbooks[path][sheet][f"{column}{row}"].value
        if path not in self.csv_rows:
            self.csv_rows[path] = self._csv_by_line(path)
        record = self.csv_rows[path][row]
        index = openpyxl.utils.column_index_from_string(column) - 1
        return record[index] if index < len(record) else ""

    @staticmethod
    def _csv_by_line(path: str) -> dict[int, list[str]]:
        """Map the line each CSV record starts on (header line = 1) to the record."""
        records = {}
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            previous = 0
            for record in reader:
                records[previous + 1] = record
                previous = reader.line_num
        return records

    def close(self):
        for workbook in self.workbooks.values():
            workbook.close()


@pytest.fixture(scope="module")
def reader():
    opened = IndependentReader()
    yield opened
    opened.close()


def same_text(stored: object, traced: str) -> bool:
    """Compare a cell with the traced text: as text, or as numbers when both are."""
    stored_text = "" if stored is None else str(stored).strip()
    traced_text = (traced or "").strip()
    if stored_text == traced_text:
        return True
    try:
        return math.isclose(
            float(stored_text.replace(",", "")),
            float(traced_text.replace(",", "")),
            rel_tol=TOLERANCE,
        )
    except ValueError:
        return False


# --------------------------------------------------------------------------- #
# city and indicator resolution
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["440300", "深圳", "深圳市", "Shenzhen", "SHENZHEN"])
def test_city_names_resolve(warehouse, name):
    tree = build_trace(warehouse, 2022, name)
    assert tree["city"]["city_code"] == "440300"
    assert tree["city"]["name_zh"] == "深圳市"


def test_unknown_city_lists_close_matches(warehouse):
    with pytest.raises(TraceError, match="close matches: .*深圳 \\(440300\\)"):
        build_trace(warehouse, 2022, "深证")
    with pytest.raises(TraceError, match="Shenzhen \\(440300\\)"):
        build_trace(warehouse, 2022, "Shenzen")


def test_ambiguous_city_lists_both(warehouse):
    with pytest.raises(TraceError) as error:
        build_trace(warehouse, 2022, "Suzhou")
    assert "320500" in str(error.value)
    assert "341300" in str(error.value)


def test_unknown_indicator_lists_close_matches(warehouse):
    with pytest.raises(TraceError, match="close matches: \\['co2_per_capita'"):
        build_trace(warehouse, 2022, "440300", indicator="co2_per_capit")


def test_unknown_edition_and_method(warehouse):
    with pytest.raises(TraceError, match="editions with scores: 2022"):
        build_trace(warehouse, 2019, "440300")
    with pytest.raises(TraceError, match="close matches: \\['ccni-default'\\]"):
        build_trace(warehouse, 2022, "440300", method_id="ccni-defalt")


# --------------------------------------------------------------------------- #
# leaves against the source files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("code", CITIES)
def test_leaves_match_source_files(traces, reader, code):
    cells = nodes_of(traces[code], "source_cell")
    assert len(cells) >= 20
    for leaf in cells:
        assert leaf["path_exists"], f"{leaf['id']}: {leaf['path']} not in the lake"
        assert Path(leaf["path"]).is_absolute()
        assert f"/raw/{leaf['source_id']}/{leaf['file_sha256']}/" in leaf["path"]
        stored = reader.cell(leaf["path"], leaf["sheet"], leaf["column"], leaf["row"])
        assert same_text(stored, leaf["original_text"]), (
            f"{leaf['id']} {leaf['path']} {leaf['sheet']}!{leaf['column']}"
            f"{leaf['row']}: file has {stored!r}, trace says {leaf['original_text']!r}"
        )


def test_leaves_cover_every_source_family(traces):
    manifest = load_manifest()
    families = {
        manifest[leaf["source_id"]].family
        for tree in traces.values()
        for leaf in nodes_of(tree, "source_cell")
    }
    expected = {"edgar", "city_panel", "ccsy", "crea", "openclimate", "pilot_cities"}
    assert expected <= families


@pytest.mark.parametrize("code", CITIES)
def test_register_leaves_match_csv(traces, code):
    register = nodes_of(traces[code], "register_row")
    for leaf in register:
        with open(leaf["path"], encoding="utf-8-sig", newline="") as handle:
            records = list(csv.reader(handle))
        header = records[0]
        record = dict(zip(header, records[leaf["row"] - 1], strict=True))
        assert record["city_code"] == code
        assert record["target_year"] == leaf["original_text"]
        assert record["url"] == leaf["url"]
        assert record["date_announced"] == leaf["date_announced"]
        assert header[ord(leaf["column"]) - ord("A")] == "target_year"


def test_hand_checked_leaves(traces):
    shenzhen = {leaf["id"]: leaf for leaf in nodes_of(traces["440300"], "source_cell")}
    secondary = [
        leaf
        for leaf in shenzhen.values()
        if leaf["variable"] == "va_secondary_100m_yuan"
    ]
    assert secondary[0]["sheet"] == "面板数据2000-2023"
    assert (secondary[0]["column"], secondary[0]["row"]) == ("H", 4680)
    assert secondary[0]["original_text"] == "10454.0126953125"
    tracker = [
        leaf for leaf in shenzhen.values() if leaf["source_id"] == "net_zero_tracker"
    ]
    assert [(leaf["column"], leaf["row"]) for leaf in tracker] == [("E", 13)]
    assert tracker[0]["original_text"] == "2060"

    peak = next(
        n for n in nodes_of(traces["420100"], "indicator") if n["id"] == "peak_target"
    )
    counted = [leaf for leaf in peak["children"] if leaf["role"] == "counted"]
    assert len(counted) == 1
    assert counted[0]["row"] == 37
    assert counted[0]["original_text"] == "2022"
    assert counted[0]["date_announced"] == "2018-01"
    assert peak["value"] == 100


# --------------------------------------------------------------------------- #
# inner values recomputed from their children
# --------------------------------------------------------------------------- #


def weighted_mean(children: list[dict]) -> float:
    present = [child for child in children if child["value"] is not None]
    total = sum(child["weights"]["within_parent"] for child in present)
    return sum(c["weights"]["within_parent"] * c["value"] for c in present) / total


@pytest.mark.parametrize("code", CITIES)
def test_inner_nodes_recompute(traces, code):
    root = traces[code]["root"]
    assert math.isclose(
        weighted_mean(root["children"]), root["value"], rel_tol=TOLERANCE
    )
    for dimension in root["children"]:
        assert math.isclose(
            weighted_mean(dimension["children"]), dimension["value"], rel_tol=TOLERANCE
        ), dimension["id"]
        for group in dimension["children"]:
            assert math.isclose(
                weighted_mean(group["children"]), group["value"], rel_tol=TOLERANCE
            ), group["id"]
    indicators = nodes_of(traces[code], "indicator")
    applied = sum(
        n["weights"]["applied"] * n["value"]
        for n in indicators
        if n["value"] is not None
    )
    assert math.isclose(applied, root["value"], rel_tol=TOLERANCE)
    assert math.isclose(sum(n["weights"]["applied"] for n in indicators), 1.0)


@pytest.mark.parametrize("code", CITIES)
def test_numeric_scores_recompute(traces, edition_2022, code):
    for node in nodes_of(traces[code], "indicator"):
        if node["kind"] != "numeric" or node["is_missing"]:
            continue
        norm = node["normalisation"]
        all_values = edition_2022.query(
            "SELECT value FROM out.indicator_scores WHERE edition = 2022 "
            "AND method_id = 'ccni-default' AND indicator_id = $id AND NOT is_missing",
            {"id": node["id"]},
        )["value"].to_numpy()
        low, high = np.quantile(all_values, [0.05, 0.95])
        assert math.isclose(norm["lower_bound"], low, rel_tol=TOLERANCE), node["id"]
        assert math.isclose(norm["upper_bound"], high, rel_tol=TOLERANCE), node["id"]
        clipped = min(max(node["raw_value"], low), high)
        position = (clipped - low) / (high - low) * 100
        expected = position if node["direction"] == "+" else 100 - position
        assert math.isclose(node["value"], expected, rel_tol=1e-7, abs_tol=1e-9), node[
            "id"
        ]


def leaf_values(node: dict) -> dict[str, list[tuple[int, float]]]:
    """Return (year, value) pairs of the node's source cells by variable prefix."""
    values: dict[str, list[tuple[int, float]]] = {}
    for leaf in node["children"]:
        if leaf["node_type"] != "source_cell":
            continue
        variable = leaf["variable"]
        for prefix in (
            "co2_mt",
            "population_",
            "gdp_real",
            "gdp_nominal",
            "va_secondary",
            "electricity_total",
            "gdp_10k_yuan",
            "buses_operating",
            "power_gen",
        ):
            if variable.startswith(prefix):
                values.setdefault(prefix, []).append((leaf["year"], leaf["value"]))
        if variable.startswith("power_gen") and "thermal" not in variable:
            values.setdefault("non_fossil", []).append((leaf["year"], leaf["value"]))
    for pairs in values.values():
        pairs.sort()
    return values


def recompute_raw_value(node: dict) -> float | None:
    v = leaf_values(node)
    first = {name: pairs[0][1] for name, pairs in v.items()}
    last = {name: pairs[-1][1] for name, pairs in v.items()}
    match node["id"]:
        case "co2_per_capita":
            return first["co2_mt"] * 100 / first["population_"]
        case "carbon_intensity":
            return first["co2_mt"] * 100 / first["gdp_real"]
        case "secondary_share":
            return first["va_secondary"] / first["gdp_nominal"] * 100
        case "electricity_intensity":
            gdp = (
                first["gdp_10k_yuan"]
                if "gdp_10k_yuan" in v
                else first["gdp_nominal"] * 1e4
            )
            return first["electricity_total"] * 10000 / gdp
        case "buses_per_10k":
            return first["buses_operating"] / first["population_"]
        case "non_fossil_share":
            clean = sum(value for _, value in v["non_fossil"])
            return clean / sum(value for _, value in v["power_gen"]) * 100
        case "co2_growth":
            years = v["co2_mt"][-1][0] - v["co2_mt"][0][0]
            return ((last["co2_mt"] / first["co2_mt"]) ** (1 / years) - 1) * 100
        case "decoupling":
            co2 = (last["co2_mt"] - first["co2_mt"]) / first["co2_mt"]
            gdp = (last["gdp_real"] - first["gdp_real"]) / first["gdp_real"]
            return co2 / gdp
        case "peak_trend":
            series = [value for _, value in v["co2_mt"]]
            return float(
                sum(
                    np.sign(b - a)
                    for i, a in enumerate(series)
                    for b in series[i + 1 :]
                )
            )
    return None


@pytest.mark.parametrize("code", CITIES)
def test_raw_values_recompute_from_leaves(traces, code):
    checked = []
    for node in nodes_of(traces[code], "indicator"):
        if node["is_missing"]:
            continue
        expected = recompute_raw_value(node)
        if expected is None:
            continue
        assert math.isclose(node["raw_value"], expected, rel_tol=TOLERANCE), node["id"]
        assert math.isclose(node["raw_value_recomputed"], expected, rel_tol=TOLERANCE)
        assert "MISMATCH" not in node["raw_value_formula"]
        checked.append(node["id"])
    assert {
        "co2_per_capita",
        "carbon_intensity",
        "secondary_share",
        "non_fossil_share",
        "co2_growth",
        "decoupling",
        "peak_trend",
    } <= set(checked)
    if code == "420100":
        assert {"electricity_intensity", "buses_per_10k"} <= set(checked)


# --------------------------------------------------------------------------- #
# filter, renderers, command
# --------------------------------------------------------------------------- #


def test_indicator_filter_keeps_one_path(warehouse):
    tree = build_trace(warehouse, 2022, "Wuhan", indicator="co2_per_capita")
    root = tree["root"]
    assert [d["id"] for d in root["children"]] == ["low_carbon_status"]
    assert root["children_omitted"] == ["climate_ambition", "emission_trend"]
    groups = root["children"][0]["children"]
    assert [g["id"] for g in groups] == ["emission_level"]
    indicators = groups[0]["children"]
    assert [i["id"] for i in indicators] == ["co2_per_capita"]
    assert groups[0]["children_omitted"] == ["carbon_intensity"]
    assert len(indicators[0]["children"]) == 2


def test_json_and_text_renderings(traces):
    tree = traces["440300"]
    text = render_json(tree)
    assert f'"version": {TRACE_VERSION}' in text
    assert '"format": "ccni-trace"' in text
    assert "深圳市" in text
    lines = render_text(tree)
    assert "深圳市 Shenzhen (440300)" in lines
    assert "cell H4680" in lines
    assert "'10454.0126953125'" in lines


def test_html_opens_in_chromium(traces, tmp_path):
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"chromium not found at {CHROMIUM}; install it with "
            "`apt-get update && apt-get install -y chromium`"
        )

    tree = traces["440300"]
    page = render_html(tree)
    assert "http" not in " ".join(
        part for part in page.split() if part.startswith(("src=", "href="))
    )
    assert "<link" not in page

    path = tmp_path / "trace_440300.html"
    path.write_text(page, encoding="utf-8")
    completed = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]

    dom = completed.stdout
    assert "深圳市" in dom
    assert "Shenzhen" in dom
    assert "10454.0126953125" in dom
    assert "<details" in dom


def test_command_writes_html_into_exports(edition_2022, monkeypatch, capsys):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(edition_2022.lake))
    parser = argparse.ArgumentParser(prog="ccni")
    add_trace_parser(parser.add_subparsers(dest="command"))
    arguments = parser.parse_args(
        ["trace", "--edition", "2022", "--city", "深圳", "--format", "html"]
    )
    assert arguments.handler(arguments) == 0
    page = edition_2022.lake / "exports" / "2022" / "trace_440300.html"
    assert page.is_file()
    assert "深圳市" in page.read_text(encoding="utf-8")
    assert str(page) in capsys.readouterr().out
