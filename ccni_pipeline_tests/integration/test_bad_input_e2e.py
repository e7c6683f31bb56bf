"""Bad input through the real `ccni` commands, from edited copies of real files.

The EDGAR workbook `地级市碳排放强度.xlsx` is edited in a copy. Its sheet `Sheet1`
has the columns A 年份, B 城市代码, C 所属省份, D 城市 and G 碳排放量_吨. The copy
is registered under its new sha256 in a copy of the manifest (CCNI_MANIFEST) and
placed at its lake path before `ccni fetch` copies the other files from the
mirror. One `ccni run` of edition 2022 in that lake then shows where each edited
cell went:

- 北京市 2019 repeated in a new row 7082 with 78044417 t: G21 and G7082 are both
  rejected as conflicting values.
- 上海市 2005 made negative: G1615 is rejected as an impossible negative value.
- New row 7083 for 火星市 (江苏省, no code): G7083 is rejected because the name
  is not in the crosswalk.
- New row 7084 for `Suzhou` (no province, no code): G7084 is rejected as
  ambiguous, with both candidate cities listed.
- 南京市 2010 given 无锡's code 320200: G1644 is rejected because the code
  contradicts the name.

A truncated pilot-city workbook makes a second run fail with the file named in
the summary, and manifest entries whose file names leave the lake make
`ccni fetch` stop before it writes anything.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
import yaml

from ccni_pipeline.sources.manifest import MANIFEST_PATH, sha256_of

CCNI = Path(sys.executable).with_name("ccni")
RUN_TIMEOUT_SECONDS = 600
FETCH_TIMEOUT_SECONDS = 120

EDGAR_ID = "edgar_city_co2"
EDGAR_MIRROR_PATH = "cn_city_panel_gp/raw/地级市碳排放强度.xlsx"
PILOT_92_ID = "pilot_cities_92"
PILOT_92_MIRROR_PATH = "cn_city_panel_gp/raw/试点城市名单.xlsx"
TRUNCATED_BYTES = 3000  # of 6675: the zip's central directory at the end is lost

# Rows appended after the last data row (7081, 哈密市 2023) of Sheet1.
DUPLICATE_ROW = 7082
UNKNOWN_ROW = 7083
AMBIGUOUS_ROW = 7084
BEIJING_2019_ROW = 21  # 2019, 110000, 北京市, 北京市, G21 = 78044416 t
SHANGHAI_2005_ROW = 1615  # 2005, 310000, 上海市, 上海市, G1615 = 115370448 t
NANJING_2010_ROW = 1644  # 2010, 320100, 江苏省, 南京市, G1644 = 97234528 t


def ccni_env(lake: Path, manifest: Path | None = None) -> dict[str, str]:
    """Return the environment of a `ccni` process that works in `lake` only."""
    env = dict(os.environ)
    for name in ("DAGSTER_HOME", "CCNI_MANIFEST", "CCNI_SOURCE_MIRROR"):
        env.pop(name, None)
    for name in ("CCNI_PAUSE_AT", "CCNI_PAUSE_FILE", "CCNI_TRACEBACK"):
        env.pop(name, None)
    env["CCNI_DATA_LAKE"] = str(lake)
    if manifest is not None:
        env["CCNI_MANIFEST"] = str(manifest)
    return env


def run_ccni(
    arguments: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    """Run `ccni` with `arguments` and return its exit code and captured output."""
    return subprocess.run(
        [str(CCNI), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_manifest_document() -> dict:
    return yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))


def manifest_entry(document: dict, source_id: str) -> dict:
    return next(s for s in document["sources"] if s["source_id"] == source_id)


def write_manifest(document: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def register_edited(document: dict, source_id: str, edited: Path, lake: Path) -> None:
    """Point the manifest entry at `edited` and place the file at its lake path."""
    entry = manifest_entry(document, source_id)
    entry["sha256"] = sha256_of(edited)
    entry["size_bytes"] = edited.stat().st_size
    entry["upstream_identical"] = False
    target = lake / "raw" / source_id / entry["sha256"] / entry["file_name"]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(edited, target)


def edit_edgar(original: Path, edited: Path) -> None:
    """Write the edited EDGAR workbook described in the module docstring."""
    shutil.copyfile(original, edited)
    workbook = openpyxl.load_workbook(edited)
    sheet = workbook["Sheet1"]
    assert sheet.max_row == 7081, "the EDGAR sheet is not the expected edition"

    beijing = [cell.value for cell in sheet[BEIJING_2019_ROW]][:7]
    assert beijing == [2019, 110000, "北京市", "北京市", "东部", "东南侧", 78044416]
    for column, value in zip("ABCDEFG", [*beijing[:6], 78044417], strict=True):
        sheet[f"{column}{DUPLICATE_ROW}"] = value

    assert sheet[f"D{SHANGHAI_2005_ROW}"].value == "上海市"
    assert sheet[f"G{SHANGHAI_2005_ROW}"].value == 115370448
    sheet[f"G{SHANGHAI_2005_ROW}"] = -115370448

    unknown = [2019, None, "江苏省", "火星市", "东部", "东南侧", 12345678]
    ambiguous = [2019, None, None, "Suzhou", "东部", "东南侧", 23456789]
    for row, values in ((UNKNOWN_ROW, unknown), (AMBIGUOUS_ROW, ambiguous)):
        for column, value in zip("ABCDEFG", values, strict=True):
            sheet[f"{column}{row}"] = value

    assert sheet[f"D{NANJING_2010_ROW}"].value == "南京市"
    assert sheet[f"B{NANJING_2010_ROW}"].value == 320100
    sheet[f"B{NANJING_2010_ROW}"] = 320200
    workbook.save(edited)


class BadInputLake:
    """The lake of the run on edited files, and what its commands printed."""

    def __init__(self, lake: Path, manifest: Path, document: dict, run_stdout: str):
        self.lake = lake
        self.manifest = manifest
        self.document = document
        self.run_stdout = run_stdout

    def query(self, sql: str, parameters: list | None = None) -> pd.DataFrame:
        path = self.lake / "warehouse.duckdb"
        with duckdb.connect(str(path), read_only=True) as connection:
            return connection.execute(sql, parameters or []).df()

    def rejected_at(self, row_number: int) -> pd.DataFrame:
        """Return the rejected rows of the EDGAR file's cell G<row_number>."""
        return self.query(
            """
            SELECT sheet, row_number, column_letter, original_text, city_name,
                   province_name, source_city_code, year, variable, stage, reason
            FROM core.rejected_rows
            WHERE source_id = ? AND row_number = ?
            ORDER BY column_letter
            """,
            [EDGAR_ID, row_number],
        )


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory, real_dir) -> BadInputLake:
    work = tmp_path_factory.mktemp("bad_input")
    lake = work / "lake"
    document = load_manifest_document()
    edited = work / "地级市碳排放强度.xlsx"
    edit_edgar(real_dir / EDGAR_MIRROR_PATH, edited)
    register_edited(document, EDGAR_ID, edited, lake)
    manifest = write_manifest(document, work / "manifest.yaml")
    env = ccni_env(lake, manifest)

    fetch = run_ccni(["fetch", "--mirror", str(real_dir)], env, FETCH_TIMEOUT_SECONDS)
    assert fetch.returncode == 0, fetch.stderr
    count = len(document["sources"])
    assert fetch.stdout.strip() == (
        f"fetched {count} source files into {lake / 'raw'}: "
        f"{count - 1} copied, 1 skipped"
    )

    run = run_ccni(["run", "--edition", "2022"], env, RUN_TIMEOUT_SECONDS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CCNI edition 2022, method ccni-default: succeeded" in run.stdout
    return BadInputLake(lake, manifest, document, run.stdout)


def test_conflicting_duplicates_both_rejected(bad_input):
    reason = (
        "conflicting values for 110000 2019 co2_mt in edgar_city_co2 (2 rows); "
        "fix the source or the crosswalk so one row remains"
    )
    for row_number, text in (
        (BEIJING_2019_ROW, "78044416"),
        (DUPLICATE_ROW, "78044417"),
    ):
        rejected = bad_input.rejected_at(row_number)
        assert len(rejected) == 1, rejected
        row = rejected.iloc[0]
        assert (row["sheet"], row["column_letter"]) == ("Sheet1", "G")
        assert row["original_text"] == text
        assert row["stage"] == "validate"
        assert row["reason"] == reason


def test_conflicting_duplicates_leave_no_value(bad_input):
    kept = bad_input.query(
        """
        SELECT count(*) AS n FROM core.city_values
        WHERE city_code = '110000' AND year = 2019 AND variable = 'co2_mt'
          AND source_id = ?
        """,
        [EDGAR_ID],
    )
    assert kept["n"].iloc[0] == 0


def test_negative_co2_rejected(bad_input):
    rejected = bad_input.rejected_at(SHANGHAI_2005_ROW)
    assert len(rejected) == 1, rejected
    row = rejected.iloc[0]
    assert (row["sheet"], row["column_letter"]) == ("Sheet1", "G")
    assert row["original_text"] == "-115370448"
    assert row["city_name"] == "上海市"
    assert row["year"] == 2005
    assert row["stage"] == "validate"
    assert row["reason"] == "impossible negative value -115.370448 for co2_mt"


def test_unknown_city_name_rejected(bad_input):
    rejected = bad_input.rejected_at(UNKNOWN_ROW)
    assert len(rejected) == 1, rejected
    row = rejected.iloc[0]
    assert (row["sheet"], row["column_letter"]) == ("Sheet1", "G")
    assert row["original_text"] == "12345678"
    assert row["stage"] == "resolve"
    assert row["reason"] == "name '火星市' not in the crosswalk"


def test_ambiguous_city_name_rejected(bad_input):
    rejected = bad_input.rejected_at(AMBIGUOUS_ROW)
    assert len(rejected) == 1, rejected
    row = rejected.iloc[0]
    assert (row["sheet"], row["column_letter"]) == ("Sheet1", "G")
    assert row["province_name"] == ""
    assert row["stage"] == "resolve"
    assert row["reason"] == (
        "name 'Suzhou' is ambiguous: 320500 江苏省苏州市, 341300 安徽省宿州市; "
        "give the province"
    )


def test_code_contradicting_name_rejected(bad_input):
    rejected = bad_input.rejected_at(NANJING_2010_ROW)
    assert len(rejected) == 1, rejected
    row = rejected.iloc[0]
    assert (row["sheet"], row["column_letter"]) == ("Sheet1", "G")
    assert row["source_city_code"] == "320200"
    assert row["city_name"] == "南京市"
    assert row["stage"] == "resolve"
    assert row["reason"] == (
        "code 320200 belongs to 320200 but the name '南京市' resolves to 320100; "
        "fix the code or the name in the source file"
    )


def test_only_edited_cells_rejected(bad_input):
    """The five edits reject six EDGAR cells; the unedited file rejects none."""
    rejected = bad_input.query(
        "SELECT row_number FROM core.rejected_rows WHERE source_id = ? "
        "ORDER BY row_number",
        [EDGAR_ID],
    )
    assert rejected["row_number"].tolist() == [
        BEIJING_2019_ROW,
        SHANGHAI_2005_ROW,
        NANJING_2010_ROW,
        DUPLICATE_ROW,
        UNKNOWN_ROW,
        AMBIGUOUS_ROW,
    ]


def test_run_summary_counts_rejected(bad_input):
    (rejected,) = bad_input.query("SELECT count(*) FROM core.rejected_rows").iloc[0]
    assert f"{rejected} rejected (see core.rejected_rows)" in bad_input.run_stdout


def test_truncated_workbook_fails_run(bad_input, real_dir, tmp_path):
    """Runs last in this module: the failed run must leave the outputs unchanged."""
    scores = bad_input.lake / "exports" / "2022" / "scores.csv"
    scores_before = scores.read_bytes()
    truncated = tmp_path / "试点城市名单.xlsx"
    truncated.write_bytes(
        (real_dir / PILOT_92_MIRROR_PATH).read_bytes()[:TRUNCATED_BYTES]
    )
    document = yaml.safe_load(yaml.safe_dump(bad_input.document))
    register_edited(document, PILOT_92_ID, truncated, bad_input.lake)
    manifest = write_manifest(document, tmp_path / "manifest.yaml")
    entry = manifest_entry(document, PILOT_92_ID)
    lake_file = (
        bad_input.lake / "raw" / PILOT_92_ID / entry["sha256"] / entry["file_name"]
    )

    run = run_ccni(
        ["run", "--edition", "2022"],
        ccni_env(bad_input.lake, manifest),
        RUN_TIMEOUT_SECONDS,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "CCNI edition 2022, method ccni-default: FAILED"
    errors = [line for line in lines if line.startswith("  error: ")]
    assert len(errors) == 1, run.stdout
    assert errors[0].startswith(f"  error: step raw_{PILOT_92_ID}: ")
    # NOTE: fails while the summary prints the innermost cause `zipfile.BadZipFile:
    # File is not a zip file`, which does not name the file
    expected = (
        f"SourceFormatError: {lake_file} is not a valid xlsx workbook "
        "(truncated or corrupt?); fetch it again with `ccni fetch`"
    )
    assert expected in errors[0]
    assert scores.read_bytes() == scores_before


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (
            "file_name",
            "../evil.csv",
            "'../evil.csv' must be a plain file name, not a path (no '/' or '\\')",
        ),
        (
            "file_name",
            "/etc/passwd",
            "'/etc/passwd' must be a plain file name, not a path (no '/' or '\\')",
        ),
        ("file_name", "..", "'..' is not a file name"),
        (
            "mirror_path",
            "../../etc/passwd",
            "'../../etc/passwd' must be relative to the mirror folder, without '..'",
        ),
    ],
)
def test_escaping_manifest_path_stops_fetch(real_dir, tmp_path, key, value, problem):
    document = load_manifest_document()
    manifest_entry(document, "net_zero_tracker")[key] = value
    manifest = write_manifest(document, tmp_path / "manifest.yaml")
    lake = tmp_path / "lake"

    fetch = run_ccni(
        ["fetch", "--mirror", str(real_dir)],
        ccni_env(lake, manifest),
        FETCH_TIMEOUT_SECONDS,
    )

    # NOTE: fails while `ccni` loads the manifest when its modules are imported,
    # so an invalid manifest ends in a traceback with exit code 1
    assert fetch.returncode == 2, fetch.stdout + fetch.stderr
    assert fetch.stdout == ""
    assert fetch.stderr.splitlines()[0] == (
        f"ccni fetch: ManifestError: manifest {manifest}: entry 'net_zero_tracker' "
        f"key {key!r}: {problem}"
    )
    assert not (tmp_path / "evil.csv").exists()
    assert not (lake / "raw").exists()
