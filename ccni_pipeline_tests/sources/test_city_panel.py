"""Tests of the cn_city_panel_gp readers against the real workbooks.

Expected values were looked up by hand in the workbooks with openpyxl; each test
names the sheet and cell it checks.
"""

import hashlib
import logging
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ccni_pipeline.sources.base import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    ReadResult,
    SourceFile,
    SourceFormatError,
    make_row_id,
)
from ccni_pipeline.sources.cells import cell_text
from ccni_pipeline.sources.city_panel import (
    READERS,
    read_city_real_gdp,
    read_edgar_city_co2,
)

FILES = {
    "edgar_city_co2": "地级市碳排放强度.xlsx",
    "city_gdp_industry": "2000-2023地级市产业结构.xlsx",
    "city_real_gdp": "296个地级市GDP相关数据（以2000年为基期）.xlsx",
    "city_population": "298个地级市人口密度1998-2024年无缺失.xlsx",
    "pilot_cities_92": "试点城市名单.xlsx",
    "pilot_cities_135": "低碳城市试点名单_did-0206.xlsx",
}
SHEETS = {
    "edgar_city_co2": "Sheet1",
    "city_gdp_industry": "面板数据2000-2023",
    "city_real_gdp": "Sheet1",
    "city_population": "面板数据",
    "pilot_cities_92": "Sheet1",
    "pilot_cities_135": "Sheet1",
}
WATERMARK = "更多数据，关注淘宝店【行行文库】"
WATERMARK_URL = "https://hhwk.taobao.com"


def _source(folder: Path, source_id: str, path: Path | None = None) -> SourceFile:
    path = path or folder / "cn_city_panel_gp" / "raw" / FILES[source_id]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id=source_id, path=path, sha256=digest)


def _cell(frame: pd.DataFrame, row_number: int, letter: str) -> pd.Series:
    """Return the one output row of a cell address, failing if there is not one."""
    match = frame[
        (frame["row_number"] == row_number) & (frame["column_letter"] == letter)
    ]
    assert len(match) == 1, f"expected one row for {letter}{row_number}"
    return match.iloc[0]


@pytest.fixture(scope="module")
def results(real_dir: Path) -> dict[str, ReadResult]:
    return {
        source_id: reader(_source(real_dir, source_id))
        for source_id, reader in READERS.items()
    }


@pytest.fixture(scope="module")
def co2(results: dict[str, ReadResult]) -> ReadResult:
    return results["edgar_city_co2"]


@pytest.fixture(scope="module")
def gdp(results: dict[str, ReadResult]) -> ReadResult:
    return results["city_gdp_industry"]


@pytest.fixture(scope="module")
def real_gdp(results: dict[str, ReadResult]) -> ReadResult:
    return results["city_real_gdp"]


@pytest.fixture(scope="module")
def population(results: dict[str, ReadResult]) -> ReadResult:
    return results["city_population"]


# --- contract shared by all readers ------------------------------------------------


def test_readers_cover_manifest_ids():
    assert set(READERS) == set(FILES)


@pytest.mark.parametrize("source_id", list(FILES))
def test_reader_columns_follow_contract(results, source_id):
    result = results[source_id]
    assert list(result.kept.columns) == RAW_COLUMNS
    assert list(result.rejected.columns) == REJECTED_COLUMNS
    assert set(result.rejected["stage"]) <= {"read"}
    assert set(result.kept["sheet"]) == {SHEETS[source_id]}
    assert set(result.kept["source_id"]) == {source_id}
    assert result.kept["value"].notna().all()


@pytest.mark.parametrize("source_id", list(FILES))
def test_row_ids_unique_and_stable(results, source_id):
    result = results[source_id]
    both = pd.concat([result.kept, result.rejected], ignore_index=True)
    assert both["raw_row_id"].is_unique
    first = result.kept.iloc[0]
    expected = make_row_id(
        first["file_sha256"],
        first["sheet"],
        first["row_number"],
        first["column_letter"],
    )
    assert first["raw_row_id"] == expected


@pytest.mark.parametrize("source_id", list(FILES))
def test_provenance_matches_cell_address(real_dir, results, source_id):
    """original_text of sampled kept rows and all rejected rows equals the cell."""
    path = real_dir / "cn_city_panel_gp" / "raw" / FILES[source_id]
    sheet = openpyxl.load_workbook(path, data_only=True)[SHEETS[source_id]]
    result = results[source_id]
    sample = pd.concat([result.kept.iloc[::97], result.rejected])
    for row in sample.itertuples():
        address = f"{row.column_letter}{row.row_number}"
        assert cell_text(sheet[address].value) == row.original_text, address
        header = cell_text(sheet[f"{row.column_letter}1"].value).strip()
        assert header == row.column_header, address


# --- edgar_city_co2 ---------------------------------------------------------------


def test_co2_counts(co2):
    assert len(co2.kept) == 7080
    assert len(co2.rejected) == 0
    assert co2.kept["source_city_code"].nunique() == 295
    assert set(co2.kept["year"]) == set(range(2000, 2024))


@pytest.mark.parametrize(
    ("row_number", "code", "city", "province", "year", "text", "co2_mt"),
    [
        (17, "110000", "北京市", "北京市", 2015, "80420688", 80.420688),
        (22, "110000", "北京市", "北京市", 2020, "77630136", 77.630136),
        (4529, "440300", "深圳市", "广东省", 2015, "21972768", 21.972768),
        (4534, "440300", "深圳市", "广东省", 2020, "23228838", 23.228838),
    ],
)
def test_co2_hand_checked_cells(
    co2, row_number, code, city, province, year, text, co2_mt
):
    row = _cell(co2.kept, row_number, "G")
    assert row["source_city_code"] == code
    assert row["city_name"] == city
    assert row["province_name"] == province
    assert row["year"] == year
    assert row["variable"] == "co2_mt"
    assert row["unit"] == "Mt CO2"
    assert row["column_header"] == "碳排放量_吨"
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(co2_mt, rel=1e-12)


def test_co2_note_in_column_j_ignored(real_dir, caplog):
    with caplog.at_level(logging.INFO, logger="ccni_pipeline.sources.city_panel"):
        result = read_edgar_city_co2(_source(real_dir, "edgar_city_co2"))
    assert "J" not in set(result.kept["column_letter"])
    assert "J" not in set(result.rejected["column_letter"])
    assert "J4" in caplog.text


def test_co2_missing_header_raises(real_dir, tmp_path):
    original = real_dir / "cn_city_panel_gp" / "raw" / FILES["edgar_city_co2"]
    workbook = openpyxl.load_workbook(original)
    workbook["Sheet1"]["G1"] = "碳排放量"
    changed = tmp_path / "co2_renamed_header.xlsx"
    workbook.save(changed)

    with pytest.raises(SourceFormatError) as raised:
        read_edgar_city_co2(_source(real_dir, "edgar_city_co2", changed))
    message = str(raised.value)
    assert "co2_renamed_header.xlsx" in message
    assert "'Sheet1'" in message
    assert "missing header '碳排放量_吨'" in message
    assert "'碳排放量'" in message


def test_co2_missing_sheet_raises(real_dir, tmp_path):
    original = real_dir / "cn_city_panel_gp" / "raw" / FILES["edgar_city_co2"]
    workbook = openpyxl.load_workbook(original)
    workbook["Sheet1"].title = "Sheet2"
    changed = tmp_path / "co2_renamed_sheet.xlsx"
    workbook.save(changed)

    with pytest.raises(SourceFormatError, match="sheet 'Sheet1' not found"):
        read_edgar_city_co2(_source(real_dir, "edgar_city_co2", changed))


# --- city_gdp_industry ------------------------------------------------------------


def test_gdp_counts(gdp):
    # 7 974 data rows x 5 value columns = 39 870 cells, 13 of them empty.
    assert len(gdp.kept) == 39857
    assert len(gdp.rejected) == 15
    reasons = gdp.rejected["reason"].value_counts()
    assert reasons["empty cell"] == 13
    assert reasons["watermark row"] == 2


def test_gdp_reads_panel_sheet_only(gdp):
    assert set(gdp.kept["sheet"]) == {"面板数据2000-2023"}
    assert set(gdp.kept["year"]) == set(range(2000, 2024))
    assert gdp.kept["source_city_code"].nunique() == 341


@pytest.mark.parametrize(
    ("letter", "variable", "text", "value"),
    [
        ("F", "gdp_nominal_100m_yuan", "27670.2398", 27670.2398),
        ("H", "va_secondary_100m_yuan", "10454.0126953125", 10454.0126953125),
        ("I", "va_tertiary_100m_yuan", "17190.439453125", 17190.439453125),
        ("K", "secondary_share_pct", "0.377807080745697", 37.7807080745697),
    ],
)
def test_gdp_shenzhen_2020(gdp, letter, variable, text, value):
    row = _cell(gdp.kept, 4680, letter)
    assert row["city_name"] == "深圳市"
    assert row["source_city_code"] == "440300"
    assert row["province_name"] == "广东省"
    assert row["year"] == 2020
    assert row["variable"] == variable
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(value, rel=1e-12)


def test_gdp_secondary_share_unit(gdp):
    shares = gdp.kept[gdp.kept["variable"] == "secondary_share_pct"]
    assert set(shares["unit"]) == {"%"}
    assert shares["value"].between(0, 100).all()
    assert shares["value"].max() > 1


@pytest.mark.parametrize(
    ("address", "city", "year", "variable", "text", "value"),
    [
        (("F", 49), "天津市", 2023, "gdp_nominal_100m_yuan", "16737.30", 16737.3),
        (("H", 49), "天津市", 2023, "va_secondary_100m_yuan", "5982.6", 5982.6),
        (("F", 4683), "深圳市", 2023, "gdp_nominal_100m_yuan", "34606.4", 34606.4),
    ],
)
def test_gdp_text_stored_cells_parse(gdp, address, city, year, variable, text, value):
    letter, row_number = address
    row = _cell(gdp.kept, row_number, letter)
    assert row["city_name"] == city
    assert row["year"] == year
    assert row["variable"] == variable
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(value)


def test_gdp_all_text_stored_gdp_kept(real_dir, gdp):
    path = real_dir / "cn_city_panel_gp" / "raw" / FILES["city_gdp_industry"]
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = workbook["面板数据2000-2023"]
    text_cells = {
        (cell.row, cell.value)
        for (cell,) in sheet.iter_rows(min_row=2, max_row=7975, min_col=6, max_col=6)
        if isinstance(cell.value, str)
    }
    workbook.close()
    kept_f = gdp.kept[gdp.kept["column_letter"] == "F"]
    kept_pairs = set(zip(kept_f["row_number"], kept_f["original_text"], strict=True))
    assert len(text_cells) == 348
    assert text_cells <= kept_pairs


def test_gdp_formula_cell_keeps_cached_value(gdp):
    # F3961 (Zhoukou 2023) contains the formula =3616.99*(1+0.048), and the reader
    # keeps the value Excel stored for it.
    row = _cell(gdp.kept, 3961, "F")
    assert row["city_name"] == "周口市"
    assert row["year"] == 2023
    assert row["original_text"] == "3790.60552"
    assert row["value"] == pytest.approx(3790.60552)


def test_gdp_empty_cells_rejected(gdp):
    for letter in "GHI":
        row = _cell(gdp.rejected, 2935, letter)
        assert row["city_name"] == "南昌市"
        assert row["year"] == 2023
        assert row["reason"] == "empty cell"
    assert _cell(gdp.kept, 2935, "F")["variable"] == "gdp_nominal_100m_yuan"


def test_gdp_watermark_rows_rejected(gdp):
    first = _cell(gdp.rejected, 7991, "G")
    second = _cell(gdp.rejected, 7992, "G")
    assert first["reason"] == "watermark row"
    assert first["original_text"] == WATERMARK
    assert second["reason"] == "watermark row"
    assert second["original_text"] == WATERMARK_URL
    assert first["variable"] == ""


# --- city_real_gdp ----------------------------------------------------------------


def test_real_gdp_counts(real_gdp):
    # 7 104 data rows x 3 value columns = 21 312 cells, and 32 deflators are empty.
    assert len(real_gdp.kept) == 21280
    assert len(real_gdp.rejected) == 33
    empty = real_gdp.rejected[real_gdp.rejected["reason"] == "empty cell"]
    assert len(empty) == 32
    assert set(empty["variable"]) == {"gdp_deflator_2000"}
    assert set(empty["year"]) == {2023}


def test_real_gdp_variables_without_codes(real_gdp):
    assert set(real_gdp.kept["variable"]) == {
        "gdp_index_prev_year_100",
        "gdp_real_2000_100m_yuan",
        "gdp_deflator_2000",
    }
    assert set(real_gdp.kept["source_city_code"]) == {""}
    assert real_gdp.kept["city_name"].nunique() == 296


@pytest.mark.parametrize(
    ("address", "year", "variable", "text", "value"),
    [
        (("F", 449), 2015, "gdp_real_2000_100m_yuan", "14245.36", 14245.36),
        (("G", 449), 2015, "gdp_deflator_2000", "1.739451", 1.739451),
        (("E", 449), 2015, "gdp_index_prev_year_100", "106.9", 106.9),
        (("F", 454), 2020, "gdp_real_2000_100m_yuan", "18614.58", 18614.58),
        (("G", 454), 2020, "gdp_deflator_2000", "1.930922", 1.930922),
    ],
)
def test_real_gdp_beijing(real_gdp, address, year, variable, text, value):
    letter, row_number = address
    row = _cell(real_gdp.kept, row_number, letter)
    assert row["city_name"] == "北京市"
    assert row["province_name"] == "北京市"
    assert row["year"] == year
    assert row["variable"] == variable
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(value)


def test_real_gdp_watermark_beside_data_ignored(real_gdp):
    # K19 contains watermark text next to the Shanghai 2017 row, which stays data.
    row = _cell(real_gdp.kept, 19, "F")
    assert row["city_name"] == "上海市"
    assert row["year"] == 2017
    assert row["value"] == pytest.approx(23511.34)
    assert "K" not in set(real_gdp.kept["column_letter"])
    watermark = _cell(real_gdp.rejected, 7108, "B")
    assert watermark["reason"] == "watermark row"
    assert watermark["original_text"] == WATERMARK


def test_real_gdp_file_has_no_nameless_rows(real_gdp):
    assert not (real_gdp.rejected["reason"] == "no city name").any()


def test_real_gdp_nameless_rows_rejected(real_dir, tmp_path):
    original = real_dir / "cn_city_panel_gp" / "raw" / FILES["city_real_gdp"]
    workbook = openpyxl.load_workbook(original)
    workbook["Sheet1"]["B2"] = None
    workbook["Sheet1"]["B3"] = "  "
    changed = tmp_path / "real_gdp_without_names.xlsx"
    workbook.save(changed)

    result = read_city_real_gdp(_source(real_dir, "city_real_gdp", changed))
    nameless = result.rejected[result.rejected["reason"] == "no city name"]
    assert len(nameless) == 6
    assert set(nameless["row_number"]) == {2, 3}
    assert set(nameless["column_letter"]) == {"E", "F", "G"}
    assert _cell(nameless, 2, "F")["original_text"] == "4812.15"
    assert _cell(nameless, 2, "F")["province_name"] == "上海市"
    assert len(result.kept) == 21280 - 6
    assert result.rows_read == 21280 + 33


# --- city_population --------------------------------------------------------------


def test_population_counts(population):
    # 8 046 data rows x 2 value columns = 16 092 cells, and 1 078 are blank.
    assert len(population.kept) == 15014
    assert len(population.rejected) == 1080
    reasons = population.rejected["reason"].value_counts()
    assert reasons["empty cell"] == 1078
    assert reasons["watermark row"] == 2


def test_population_blank_cells_rejected(population):
    empty = population.rejected[population.rejected["reason"] == "empty cell"]
    assert set(empty["column_letter"]) == {"G"}
    assert set(empty["variable"]) == {"population_resident_10k"}
    assert set(empty["original_text"]) == {""}
    shenyang = _cell(population.rejected, 893, "G")
    assert shenyang["city_name"] == "沈阳市"
    assert shenyang["source_city_code"] == "210100"
    assert shenyang["year"] == 1998


def test_population_interpolated_fills_blanks(population):
    interpolated = population.kept[
        population.kept["variable"] == "population_resident_interpolated_10k"
    ]
    assert len(interpolated) == 8046
    shenyang = _cell(population.kept, 893, "H")
    assert shenyang["original_text"] == "711.171"
    assert shenyang["value"] == pytest.approx(711.171)


@pytest.mark.parametrize(
    ("letter", "variable"),
    [
        ("G", "population_resident_10k"),
        ("H", "population_resident_interpolated_10k"),
    ],
)
def test_population_shenzhen_2020(population, letter, variable):
    row = _cell(population.kept, 5100, letter)
    assert row["city_name"] == "深圳市"
    assert row["province_name"] == "广东省"
    assert row["source_city_code"] == "440300"
    assert row["year"] == 2020
    assert row["variable"] == variable
    assert row["unit"] == "10k persons"
    assert row["original_text"] == "1763.38"
    assert row["value"] == pytest.approx(1763.38)


def test_population_watermark_rows_rejected(population):
    assert _cell(population.rejected, 8055, "D")["original_text"] == WATERMARK
    assert _cell(population.rejected, 8056, "D")["original_text"] == WATERMARK_URL


# --- pilot city lists -------------------------------------------------------------


def test_pilot_92_counts(results):
    result = results["pilot_cities_92"]
    assert len(result.kept) == 92
    assert len(result.rejected) == 0
    # This list dates the second batch 2013, but the 135-city list dates it 2012.
    assert set(result.kept["year"]) == {2010, 2013, 2017}
    assert (result.kept["value"] == result.kept["year"]).all()
    assert result.kept["city_name"].is_unique


def test_pilot_135_counts(results):
    result = results["pilot_cities_135"]
    assert len(result.kept) == 135
    assert len(result.rejected) == 0
    assert set(result.kept["value_text"]) == {"第一批", "第二批", "第三批"}
    assert set(result.kept["year"]) == {2010, 2012, 2017}
    assert result.kept["city_name"].is_unique


@pytest.mark.parametrize(
    ("source_id", "row_number", "city", "year", "batch", "header"),
    [
        ("pilot_cities_92", 26, "深圳市", 2010, "第一批", "pilot_year"),
        ("pilot_cities_92", 46, "北京市", 2013, "第二批", "pilot_year"),
        ("pilot_cities_135", 24, "广州市", 2010, "第一批", "政策实施年"),
        ("pilot_cities_135", 86, "北京市", 2012, "第二批", "政策实施年"),
    ],
)
def test_pilot_hand_checked_rows(
    results, source_id, row_number, city, year, batch, header
):
    result = results[source_id]
    row = _cell(result.kept, row_number, "B")
    assert row["city_name"] == city
    assert row["province_name"] == ""
    assert row["year"] == year
    assert row["value"] == float(year)
    assert row["value_text"] == batch
    assert row["variable"] == "pilot_year"
    assert row["unit"] == "year"
    assert row["column_header"] == header
    assert row["original_text"] == str(year)
