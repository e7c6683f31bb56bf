"""Tests of the readers on damaged or edited copies of the real files.

Every test copies a real file into tmp_path and changes the copy: truncates it,
replaces it with text, re-encodes it, renames a sheet or a column, or writes cells
the way other files store numbers. A file that cannot be read raises
`SourceFormatError` naming the file and what to do. A cell that cannot be read
becomes a rejected row with its reason. The original values were looked up by
hand with openpyxl and csv in the real files.
"""

import csv
import hashlib
import logging
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ccni_pipeline.sources.base import ReadResult, SourceFile, SourceFormatError
from ccni_pipeline.sources.ceads import read_ceads_city_co2
from ccni_pipeline.sources.city_panel import read_edgar_city_co2
from ccni_pipeline.sources.power import THERMAL, read_province_power_generation
from ccni_pipeline.sources.targets import read_net_zero_tracker
from ccni_pipeline.sources.yearbook import read_yearbook

EDGAR = "cn_city_panel_gp/raw/地级市碳排放强度.xlsx"
CEADS = (
    "ceads_openclimate/raw_city/"
    "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx"
)
YEARBOOK = "ccsy_prefecture_2001_2021/地级市（及以上城市）统计资料（{edition}年）.xlsx"
POWER = "crea_china_power/csv/power_generation_by_province_and_source.csv"
NET_ZERO = "ceads_openclimate/processed/net_zero_tracker_CN_Target.csv"

FETCH_ADVICE = "fetch it again with `ccni fetch`, or check the file the manifest names"
COMMA_HINT = " (a comma is read only as a thousands separator, as in '1,234.5')"
EDGAR_HEADERS = ["年份", "城市代码", "所属省份", "城市", "碳排放量_吨"]

WORKBOOKS = {
    "edgar_city_co2": (EDGAR, read_edgar_city_co2, "zipfile.BadZipFile"),
    "ceads_city_co2": (CEADS, read_ceads_city_co2, "zipfile.BadZipFile"),
    "ccsy_2019": (
        YEARBOOK.format(edition=2019),
        read_yearbook,
        "python_calamine.ZipError",
    ),
}


def _source(source_id: str, path: Path) -> SourceFile:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id=source_id, path=path, sha256=digest)


def _copy(real_dir: Path, relative: str, folder: Path) -> Path:
    """Copy a real file into `folder` under its own name and return the copy."""
    target = folder / Path(relative).name
    shutil.copyfile(real_dir / relative, target)
    target.chmod(0o644)
    return target


def _cell(frame: pd.DataFrame, row_number: int, letter: str) -> pd.Series:
    """Return the one output row of a cell address, failing if there is not one."""
    match = frame[
        (frame["row_number"] == row_number) & (frame["column_letter"] == letter)
    ]
    assert len(match) == 1, f"expected one row for {letter}{row_number}"
    return match.iloc[0]


def _edit_edgar(real_dir: Path, folder: Path, edit) -> Path:
    """Copy the EDGAR workbook, apply `edit` to its sheet `Sheet1`, save it."""
    path = _copy(real_dir, EDGAR, folder)
    workbook = openpyxl.load_workbook(path)
    edit(workbook["Sheet1"])
    workbook.save(path)
    return path


# --- files that are not valid workbooks ------------------------------------------


@pytest.mark.parametrize("source_id", list(WORKBOOKS))
def test_truncated_workbook_raises(real_dir, tmp_path, source_id):
    relative, reader, error_name = WORKBOOKS[source_id]
    path = tmp_path / Path(relative).name
    data = (real_dir / relative).read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(SourceFormatError) as raised:
        reader(_source(source_id, path))
    message = str(raised.value)
    assert message.startswith(f"{path} is not a valid xlsx workbook")
    assert "(truncated or corrupt?)" in message
    assert FETCH_ADVICE in message
    assert f"Error: {error_name}:" in message


@pytest.mark.parametrize("source_id", list(WORKBOOKS))
def test_text_file_named_xlsx_raises(real_dir, tmp_path, source_id):
    relative, reader, error_name = WORKBOOKS[source_id]
    path = tmp_path / Path(relative).name
    path.write_text("年份,城市,碳排放量_吨\n2000,北京市,43133076\n", encoding="utf-8")

    with pytest.raises(SourceFormatError) as raised:
        reader(_source(source_id, path))
    message = str(raised.value)
    assert message.startswith(f"{path} is not a valid xlsx workbook")
    assert FETCH_ADVICE in message
    assert f"Error: {error_name}:" in message


def test_zip_without_workbook_raises(tmp_path):
    path = tmp_path / "地级市碳排放强度.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")

    with pytest.raises(SourceFormatError) as raised:
        read_edgar_city_co2(_source("edgar_city_co2", path))
    message = str(raised.value)
    assert message == (
        f"{path} is not a valid xlsx workbook: it is a zip file, but there is no "
        f"item named '[Content_Types].xml' in the archive; {FETCH_ADVICE}"
    )


@pytest.mark.parametrize(
    ("source_id", "relative", "reader"),
    [
        ("edgar_city_co2", EDGAR, read_edgar_city_co2),
        ("ccsy_2019", YEARBOOK.format(edition=2019), read_yearbook),
        ("province_power_generation", POWER, read_province_power_generation),
        ("net_zero_tracker", NET_ZERO, read_net_zero_tracker),
    ],
)
def test_empty_file_raises(tmp_path, source_id, relative, reader):
    path = tmp_path / Path(relative).name
    path.write_bytes(b"")

    with pytest.raises(SourceFormatError) as raised:
        reader(_source(source_id, path))
    assert str(raised.value) == f"{path} is empty (0 bytes); {FETCH_ADVICE}"


# --- CSV encoding and syntax -----------------------------------------------------


@pytest.fixture(scope="module")
def power(real_dir) -> ReadResult:
    return read_province_power_generation(
        _source("province_power_generation", real_dir / POWER)
    )


def _power_values(result: ReadResult) -> pd.DataFrame:
    columns = ["row_number", "column_letter", "province_name", "year", "variable"]
    return result.kept[[*columns, "value", "value_text"]].reset_index(drop=True)


def _power_text(real_dir: Path) -> str:
    """Return the power CSV as text, with the Chinese name of the NBS in line 7.

    Line 7 is the `Source` row, and its column B is "National Bureau of Statistics
    of China". The file is all ASCII, so without a Chinese character a GBK copy
    would be byte-identical to a UTF-8 one.
    """
    text = (real_dir / POWER).read_text(encoding="utf-8-sig")
    source_row = "Source,National Bureau of Statistics of China,"
    assert text.count(source_row) == 1
    return text.replace(
        source_row, "Source,国家统计局 National Bureau of Statistics of China,"
    )


def test_power_in_gbk_raises(real_dir, tmp_path):
    text = _power_text(real_dir)
    path = tmp_path / Path(POWER).name
    path.write_bytes(text.encode("gbk"))
    # Everything before 国 is ASCII, so its character offset is its byte offset.
    position = text.index("国")

    with pytest.raises(SourceFormatError) as raised:
        read_province_power_generation(_source("province_power_generation", path))
    message = str(raised.value)
    assert message == (
        f"{path} is not UTF-8 (byte 0xb9 at position {position}, line 7); "
        "save it as UTF-8 (the CREA files are UTF-8 with BOM)"
    )


def test_power_in_gbk_with_bom_counts_bom(real_dir, tmp_path):
    text = _power_text(real_dir)
    path = tmp_path / Path(POWER).name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("gbk"))

    with pytest.raises(SourceFormatError) as raised:
        read_province_power_generation(_source("province_power_generation", path))
    assert f"(byte 0xb9 at position {text.index('国') + 3}, line 7)" in str(
        raised.value
    )


def test_power_utf8_with_bom_and_chinese_reads(real_dir, tmp_path, power):
    path = tmp_path / Path(POWER).name
    path.write_bytes(_power_text(real_dir).encode("utf-8-sig"))

    result = read_province_power_generation(_source("province_power_generation", path))
    pd.testing.assert_frame_equal(_power_values(result), _power_values(power))
    pd.testing.assert_series_equal(result.rejected["reason"], power.rejected["reason"])


def test_power_without_bom_reads(real_dir, tmp_path, power):
    data = (real_dir / POWER).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    path = tmp_path / Path(POWER).name
    path.write_bytes(data[3:])

    result = read_province_power_generation(_source("province_power_generation", path))
    pd.testing.assert_frame_equal(_power_values(result), _power_values(power))
    assert len(result.rejected) == len(power.rejected) == 1407


def test_power_text_numbers(real_dir, tmp_path):
    # Line 296 is 2020-12: B296 (Beijing thermal) "4,291,000.00 ", C296
    # (Tianjin thermal) "7,377,000.00 ".
    lines = (real_dir / POWER).read_text(encoding="utf-8-sig").splitlines()
    december_2020 = lines[295]
    assert december_2020.startswith('2020-12,"4,291,000.00 ","7,377,000.00 ",')
    lines[295] = december_2020.replace(
        '"4,291,000.00 ","7,377,000.00 "', '"４,２９１,０００.００ ","7.377.000,00 "', 1
    )
    path = tmp_path / Path(POWER).name
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8-sig"))

    result = read_province_power_generation(_source("province_power_generation", path))
    beijing = _cell(result.kept, 296, "B")
    assert beijing["original_text"] == "４,２９１,０００.００ "
    assert beijing["variable"] == THERMAL
    assert beijing["value"] == pytest.approx(429.1)
    tianjin = _cell(result.rejected, 296, "C")
    assert tianjin["province_name"] == "Tianjin"
    assert tianjin["reason"] == "not a number: '7.377.000,00 '" + COMMA_HINT


def test_csv_field_over_limit_raises(real_dir, tmp_path):
    path = tmp_path / Path(NET_ZERO).name
    rows = list(csv.reader((real_dir / NET_ZERO).open(encoding="utf-8", newline="")))
    rows[1][7] = "https://example.org/" + "x" * 200_000
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)

    with pytest.raises(SourceFormatError) as raised:
        read_net_zero_tracker(_source("net_zero_tracker", path))
    message = str(raised.value)
    assert message.startswith(f"{path} is not a valid CSV file (csv.Error: field")
    assert FETCH_ADVICE in message


# --- sheets and columns ----------------------------------------------------------


def test_edgar_missing_sheet_raises(real_dir, tmp_path):
    def rename(sheet):
        sheet.title = "Sheet2"

    path = _edit_edgar(real_dir, tmp_path, rename)
    with pytest.raises(SourceFormatError) as raised:
        read_edgar_city_co2(_source("edgar_city_co2", path))
    assert str(raised.value).startswith(
        "地级市碳排放强度.xlsx: sheet 'Sheet1' not found; sheets found: "
        "['Sheet2', '数据说明']."
    )


def test_edgar_renamed_column_raises(real_dir, tmp_path):
    def rename(sheet):
        assert sheet["G1"].value == "碳排放量_吨"
        sheet["G1"] = "碳排放量（吨）"

    path = _edit_edgar(real_dir, tmp_path, rename)
    with pytest.raises(SourceFormatError) as raised:
        read_edgar_city_co2(_source("edgar_city_co2", path))
    message = str(raised.value)
    assert message.startswith(
        "地级市碳排放强度.xlsx, sheet 'Sheet1', row 1: missing header '碳排放量_吨'; "
    )
    assert f"expected headers: {EDGAR_HEADERS};" in message
    found = [
        "年份",
        "城市代码",
        "所属省份",
        "城市",
        "地区",
        "胡焕庸线",
        "碳排放量（吨）",
    ]
    assert f"headers found: {found}." in message


def test_edgar_missing_columns_raise(real_dir, tmp_path):
    def delete_year_and_code(sheet):
        assert [sheet["A1"].value, sheet["B1"].value] == ["年份", "城市代码"]
        sheet.delete_cols(1, 2)

    path = _edit_edgar(real_dir, tmp_path, delete_year_and_code)
    with pytest.raises(SourceFormatError) as raised:
        read_edgar_city_co2(_source("edgar_city_co2", path))
    message = str(raised.value)
    assert "row 1: missing headers '年份', '城市代码'; " in message
    assert f"expected headers: {EDGAR_HEADERS};" in message
    found = ["所属省份", "城市", "地区", "胡焕庸线", "碳排放量_吨"]
    assert f"headers found: {found}." in message


def test_edgar_extra_column_logged(real_dir, tmp_path, caplog):
    def insert_number_column(sheet):
        sheet.insert_cols(1)
        sheet["A1"] = "序号"
        sheet["A2"] = 1

    path = _edit_edgar(real_dir, tmp_path, insert_number_column)
    with caplog.at_level(logging.INFO, logger="ccni_pipeline.sources.city_panel"):
        result = read_edgar_city_co2(_source("edgar_city_co2", path))

    assert "columns not read: ['序号', '地区', '胡焕庸线']" in caplog.text
    assert len(result.kept) == 7080
    assert len(result.rejected) == 0
    # Beijing 2015 was G17 = 80420688 t and moves to H17.
    row = _cell(result.kept, 17, "H")
    assert row["year"] == 2015
    assert row["city_name"] == "北京市"
    assert row["value"] == pytest.approx(80.420688)


def _edit_ceads(real_dir: Path, folder: Path, edit) -> Path:
    path = _copy(real_dir, CEADS, folder)
    workbook = openpyxl.load_workbook(path)
    edit(workbook["emission matrix"])
    workbook.save(path)
    return path


def test_ceads_renamed_year_raises(real_dir, tmp_path, caplog):
    def rename(sheet):
        assert sheet["U1"].value == "2015"
        sheet["U1"] = "2015年"

    path = _edit_ceads(real_dir, tmp_path, rename)
    with pytest.raises(SourceFormatError) as raised:
        read_ceads_city_co2(_source("ceads_city_co2", path))
    message = str(raised.value)
    assert message.startswith(
        f"{path}: sheet 'emission matrix': missing year columns [2015], "
        "repeated year columns []; expected headers: 'city', then one column per "
        "year of EXPECTED_YEARS; headers found: ['city', '1995', '1997', "
    )
    assert "'2014', '2015年', '2016'" in message
    assert "ignored columns without a year header: U '2015年'" in caplog.text


def test_ceads_extra_column_logged(real_dir, tmp_path, caplog):
    def add_note(sheet):
        assert sheet["Y1"].value == "2019"
        assert sheet["Z1"].value is None
        sheet["Z1"] = "note"
        sheet["Z2"] = "checked"

    path = _edit_ceads(real_dir, tmp_path, add_note)
    with caplog.at_level(logging.WARNING, logger="ccni_pipeline.sources.ceads"):
        result = read_ceads_city_co2(_source("ceads_city_co2", path))
    assert "ignored columns without a year header: Z 'note'" in caplog.text
    assert len(result.kept) == 3929
    assert len(result.rejected) == 3031
    assert set(result.kept["column_letter"]) <= {
        chr(c) for c in range(ord("B"), ord("Z"))
    }


def _edit_net_zero(real_dir: Path, folder: Path, edit) -> Path:
    rows = list(csv.reader((real_dir / NET_ZERO).open(encoding="utf-8", newline="")))
    path = folder / Path(NET_ZERO).name
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(edit(rows))
    return path


def test_targets_renamed_column_raises(real_dir, tmp_path):
    def rename(rows):
        assert rows[0][4] == "target_year"
        rows[0][4] = "target year"
        return rows

    path = _edit_net_zero(real_dir, tmp_path, rename)
    with pytest.raises(SourceFormatError) as raised:
        read_net_zero_tracker(_source("net_zero_tracker", path))
    message = str(raised.value)
    assert message.startswith(
        f"{path}: header is missing column(s) ['target_year'], repeats column(s) "
        "[]; expected columns: ['target_id', 'actor_id', "
    )
    assert "header found: ['target_id', 'actor_id', 'target_type', " in message
    assert "'target year'" in message


def test_targets_missing_column_raises(real_dir, tmp_path):
    def drop_actor(rows):
        assert rows[0][1] == "actor_id"
        return [row[:1] + row[2:] for row in rows]

    path = _edit_net_zero(real_dir, tmp_path, drop_actor)
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) \['actor_id'\]"):
        read_net_zero_tracker(_source("net_zero_tracker", path))


def test_targets_extra_column_logged(real_dir, tmp_path, caplog):
    def add_note(rows):
        return [[*rows[0], "note"]] + [[*row, "checked"] for row in rows[1:]]

    path = _edit_net_zero(real_dir, tmp_path, add_note)
    with caplog.at_level(logging.INFO, logger="ccni_pipeline.sources.targets"):
        result = read_net_zero_tracker(_source("net_zero_tracker", path))
    assert "columns not read: ['note']" in caplog.text
    assert len(result.kept) == 13
    assert len(result.rejected) == 0


# --- cell values -----------------------------------------------------------------

# EDGAR Sheet1 rows 2-17 are Beijing 2000-2015 and row 20 is Beijing 2018
# (G20 = 77704184 t); row 30 is Tianjin 2004 (A30:D30 = 2004, 120000, 天津市,
# 天津市, G30 = 62326364 t). Written values replace the tonnes in column G.
KEPT_TEXT = {
    2: ("1,234,567.5", 1.2345675),
    3: ("４３３１１４３６", 43.311436),
    4: ("45715664 ", 45.715664),
    5: ("'49524960", 49.52496),
    6: ("\n54,575,776\n", 54.575776),
    7: ("１，２３４．５ ", 0.0012345),
    17: ("-3,319.00 ", -0.003319),
}
REJECTED_TEXT = {
    8: ("#N/A", "missing marker '#N/A'"),
    9: ("—", "missing marker '—'"),
    10: ("...", "missing marker '...'"),
    11: (None, "empty cell"),
    12: ("inf", "not a number: 'inf'"),
    13: ("1e400", "not a finite number: '1e400'"),
    14: ("12,34", "not a number: '12,34'" + COMMA_HINT),
    15: ("1.234,5", "not a number: '1.234,5'" + COMMA_HINT),
}


@pytest.fixture(scope="module")
def edited_edgar(real_dir, tmp_path_factory) -> ReadResult:
    def edit(sheet):
        for row, (text, _) in {**KEPT_TEXT, **REJECTED_TEXT}.items():
            sheet[f"G{row}"] = text
        sheet["G16"] = -5000
        assert [cell.value for cell in sheet[30][:4]] == [
            2004,
            120000,
            "天津市",
            "天津市",
        ]
        for letter, value in zip(
            "ABCD", [2018, 110000, "北京市", "北京市"], strict=True
        ):
            sheet[f"{letter}30"] = value

    folder = tmp_path_factory.mktemp("edited_edgar")
    return read_edgar_city_co2(
        _source("edgar_city_co2", _edit_edgar(real_dir, folder, edit))
    )


def test_edgar_counts_after_edits(edited_edgar):
    assert len(edited_edgar.kept) == 7080 - len(REJECTED_TEXT)
    assert len(edited_edgar.rejected) == len(REJECTED_TEXT)


@pytest.mark.parametrize("row_number", list(KEPT_TEXT))
def test_edgar_text_numbers_kept(edited_edgar, row_number):
    text, co2_mt = KEPT_TEXT[row_number]
    row = _cell(edited_edgar.kept, row_number, "G")
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(co2_mt, rel=1e-12)
    assert row["year"] == 1998 + row_number
    assert row["city_name"] == "北京市"


@pytest.mark.parametrize("row_number", list(REJECTED_TEXT))
def test_edgar_bad_cells_rejected(edited_edgar, row_number):
    text, reason = REJECTED_TEXT[row_number]
    row = _cell(edited_edgar.rejected, row_number, "G")
    assert row["reason"] == reason
    assert row["original_text"] == (text or "")
    assert row["stage"] == "read"
    assert row["year"] == 1998 + row_number
    assert row["source_city_code"] == "110000"


def test_edgar_negative_value_kept(edited_edgar):
    # Negative emissions are rejected later, by the core build, not by the reader.
    row = _cell(edited_edgar.kept, 16, "G")
    assert row["original_text"] == "-5000"
    assert row["value"] == pytest.approx(-0.005)


def test_edgar_duplicate_city_year_kept(edited_edgar):
    # Duplicates are resolved later, by the core build, so the reader keeps both.
    rows = edited_edgar.kept[
        (edited_edgar.kept["source_city_code"] == "110000")
        & (edited_edgar.kept["year"] == 2018)
    ].sort_values("row_number")
    assert list(rows["row_number"]) == [20, 30]
    assert list(rows["city_name"]) == ["北京市", "北京市"]
    assert rows["value"].tolist() == pytest.approx([77.704184, 62.326364])


def test_yearbook_decimal_comma_rejected(real_dir):
    # ccsy_2006 ID57 (长春市, buses per 10k residents, 市辖区) is the text '10,68',
    # a misread 10.68: the other cities of 吉林省 have 4.24-9.83 (ID58 = 5.63).
    result = read_yearbook(
        _source("ccsy_2006", real_dir / YEARBOOK.format(edition=2006))
    )
    row = _cell(result.rejected, 57, "ID")
    assert row["city_name"] == "长春市"
    assert row["variable"] == "buses_per_10k_residents_districts"
    assert row["reason"] == "not a number: '10,68'" + COMMA_HINT
    assert _cell(result.kept, 58, "ID")["value"] == 5.63
