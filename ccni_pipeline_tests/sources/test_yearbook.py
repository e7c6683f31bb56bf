"""Tests of the China City Statistical Yearbook reader against the real volumes.

Expected cell values were looked up by hand with openpyxl in the workbooks of
`ccsy_prefecture_2001_2021/`; each case names the volume and the cell address.
Expected counts of kept cells were counted independently with openpyxl as the
numeric cells of city rows in each mapped column. The electricity counts also
match the counts stated in the folder's description of the source.
"""

import hashlib
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from ccni_pipeline.sources.base import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    ReadResult,
    SourceFile,
    SourceFormatError,
)
from ccni_pipeline.sources.yearbook import (
    header_drift,
    header_paths,
    load_column_map,
    map_path_for,
    read_yearbook,
    volume_year,
    yearbook_source_ids,
)

FOLDER = "ccsy_prefecture_2001_2021"
EDITIONS = [
    2001, 2002, 2004, 2005, 2006, 2007, 2008, 2010, 2011, 2012,
    2013, 2014, 2015, 2016, 2017, 2018, 2019, 2020, 2021,
]  # fmt: skip
TESTED_EDITIONS = [2016, 2017, 2019, 2020, 2021]

HO_2019 = (
    "售水、用水及用电情况 | 全社会用电量 (万千瓦时) | "
    "Annual Electricity Consumption (10 000 kwh) | 全市"
)
HP_2019 = (
    "售水、用水及用电情况 | 全社会用电量 (万千瓦时) | 工业用电 | "
    "Electricity Consumption fbr Industrial | 全市"
)
GX_2016 = (
    "供水、用水及用电情况(市辖区） | 全社会用电量 (万千瓦时） "
    "Annual Electricity Consumption (10 000 kwh)"
)


def _path(folder: Path, edition: int) -> Path:
    return folder / FOLDER / f"地级市（及以上城市）统计资料（{edition}年）.xlsx"


def _source(folder: Path, edition: int, source_id: str | None = None) -> SourceFile:
    path = _path(folder, edition)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id or f"ccsy_{edition}", path, digest)


def _cell(frame: pd.DataFrame, row_number: int, letter: str) -> pd.Series:
    """Return the one output row of a cell address, failing if there is not one."""
    match = frame[
        (frame["row_number"] == row_number) & (frame["column_letter"] == letter)
    ]
    assert len(match) == 1, f"expected one row for {letter}{row_number}"
    return match.iloc[0]


@pytest.fixture(scope="module")
def results(real_dir: Path) -> dict[int, ReadResult]:
    return {
        edition: read_yearbook(_source(real_dir, edition))
        for edition in TESTED_EDITIONS
    }


# --- ids and maps ----------------------------------------------------------------


def test_source_ids_cover_all_editions() -> None:
    assert yearbook_source_ids() == [f"ccsy_{edition}" for edition in EDITIONS]


def test_volume_year_parses_id() -> None:
    assert volume_year("ccsy_2017") == 2017


def test_volume_year_rejects_other_ids() -> None:
    with pytest.raises(ValueError, match="ccsy_2017x"):
        volume_year("ccsy_2017x")


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_volume_has_valid_map(edition: int) -> None:
    column_map = load_column_map(map_path_for(f"ccsy_{edition}"))
    assert (column_map["variable"] != "").sum() >= 7


# --- kept cells ------------------------------------------------------------------

KEPT_COUNTS = {
    2016: {
        "population_registered_10k_whole_city": 290,
        "population_registered_10k_districts": 289,
        "gdp_10k_yuan_whole_city": 290,
        "gdp_10k_yuan_districts": 289,
        "budget_expenditure_10k_yuan_whole_city": 289,
        "budget_expenditure_10k_yuan_districts": 289,
        "electricity_total_10k_kwh_districts": 264,
        "electricity_industrial_10k_kwh_districts": 264,
        "buses_operating_districts": 288,
        "buses_per_10k_residents_districts": 287,
    },
    2019: {
        "population_registered_10k_whole_city": 296,
        "population_registered_10k_districts": 292,
        "gdp_10k_yuan_whole_city": 296,
        "gdp_10k_yuan_districts": 290,
        "budget_expenditure_10k_yuan_whole_city": 296,
        "budget_expenditure_10k_yuan_districts": 292,
        "electricity_total_10k_kwh_whole_city": 294,
        "electricity_industrial_10k_kwh_whole_city": 294,
        "buses_operating_districts": 287,
    },
    2020: {
        "population_registered_10k_whole_city": 296,
        "population_registered_10k_districts": 292,
        "gdp_10k_yuan_whole_city": 296,
        "gdp_10k_yuan_districts": 289,
        "budget_expenditure_10k_yuan_whole_city": 295,
        "budget_expenditure_10k_yuan_districts": 291,
        "electricity_total_10k_kwh_whole_city": 289,
        "electricity_industrial_10k_kwh_whole_city": 288,
        "buses_operating_districts": 289,
    },
    2021: {
        "population_resident_10k_whole_city": 296,
        "population_resident_10k_districts": 273,
        "gdp_10k_yuan_whole_city": 296,
        "gdp_10k_yuan_districts": 289,
        "budget_expenditure_10k_yuan_whole_city": 296,
        "budget_expenditure_10k_yuan_districts": 289,
        "buses_operating_districts": 287,
    },
}


@pytest.mark.parametrize("edition", sorted(KEPT_COUNTS))
def test_kept_counts_per_variable(results: dict[int, ReadResult], edition: int) -> None:
    counts = results[edition].kept.groupby("variable").size().to_dict()
    assert counts == KEPT_COUNTS[edition]


# (edition, cell, city, province, variable, original text, parsed value)
HAND_CHECKED = [
    (2016, "GX6", "北京市", "北京市", "electricity_total_10k_kwh_districts",
     "9527169", 9527169.0),
    (2016, "GX211", "深圳市", "广东省", "electricity_total_10k_kwh_districts",
     "8155442", 8155442.0),
    (2016, "GX9", "石家庄市", "河北省", "electricity_total_10k_kwh_districts",
     "2257985", 2257985.0),
    (2016, "HH6", "北京市", "北京市", "buses_operating_districts",
     "23287", 23287.0),
    (2016, "HH211", "深圳市", "广东省", "buses_operating_districts",
     "31716", 31716.0),
    (2016, "CG6", "北京市", "北京市", "budget_expenditure_10k_yuan_whole_city",
     "57377011", 57377011.0),
    (2016, "CG211", "深圳市", "广东省", "budget_expenditure_10k_yuan_whole_city",
     "35216708", 35216708.0),
    (2016, "HK6", "北京市", "北京市", "buses_per_10k_residents_districts",
     "17.31", 17.31),
    (2016, "BT6", "北京市", "北京市", "gdp_10k_yuan_whole_city",
     "230145900", 230145900.0),
    (2017, "GS5", "北京市", "北京市", "electricity_total_10k_kwh_districts",
     "10202704", 10202704.0),
    (2017, "GS210", "深圳市", "广东省", "electricity_total_10k_kwh_districts",
     "8420909", 8420909.0),
    (2017, "C5", "北京市", "北京市", "population_registered_10k_districts",
     "1363", 1363.0),
    (2019, "HO7", "北京市", "北京市", "electricity_total_10k_kwh_whole_city",
     "11423809", 11423809.0),
    (2019, "HO212", "深圳市", "广东省", "electricity_total_10k_kwh_whole_city",
     "9172307", 9172307.0),
    (2019, "HO10", "石家庄市", "河北省", "electricity_total_10k_kwh_whole_city",
     "4975000", 4975000.0),
    (2019, "GZ7", "北京市", "北京市", "buses_operating_districts",
     "24076", 24076.0),
    (2019, "GZ212", "深圳市", "广东省", "buses_operating_districts",
     "38728", 38728.0),
    (2019, "AT7", "北京市", "北京市", "budget_expenditure_10k_yuan_whole_city",
     "74675240", 74675240.0),
    (2019, "AT212", "深圳市", "广东省", "budget_expenditure_10k_yuan_whole_city",
     "42825379", 42825379.0),
    (2020, "HM6", "北京市", "北京市", "electricity_total_10k_kwh_whole_city",
     "11663964", 11663964.0),
    (2020, "HM210", "深圳市", "广东省", "electricity_total_10k_kwh_whole_city",
     "9839910", 9839910.0),
    (2020, "GZ6", "北京市", "北京市", "buses_operating_districts",
     "23010", 23010.0),
    (2020, "GZ210", "深圳市", "广东省", "buses_operating_districts",
     "38608", 38608.0),
    (2020, "AT6", "北京市", "北京市", "budget_expenditure_10k_yuan_whole_city",
     "74082503", 74082503.0),
    (2020, "AT210", "深圳市", "广东省", "budget_expenditure_10k_yuan_whole_city",
     "45527336", 45527336.0),
    # 亿元 in the file, 万元 in the output.
    (2020, "AG6", "北京市", "北京市", "gdp_10k_yuan_whole_city",
     "35371", 353710000.0),
    (2020, "AG210", "深圳市", "广东省", "gdp_10k_yuan_whole_city",
     "26927", 269270000.0),
    (2021, "DM7", "北京市", "北京市", "buses_operating_districts",
     "23948", 23948.0),
    (2021, "DM211", "深圳市", "广东省", "buses_operating_districts",
     "38362", 38362.0),
    (2021, "AG7", "北京市", "北京市", "budget_expenditure_10k_yuan_whole_city",
     "71161762", 71161762.0),
    (2021, "AG211", "深圳市", "广东省", "budget_expenditure_10k_yuan_whole_city",
     "41777162", 41777162.0),
    (2021, "T7", "北京市", "北京市", "gdp_10k_yuan_whole_city",
     "36103", 361030000.0),
    (2021, "C7", "北京市", "北京市", "population_resident_10k_whole_city",
     "2189", 2189.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edition", "address", "city", "province", "variable", "text", "value"),
    HAND_CHECKED,
    ids=[f"{case[0]}-{case[1]}" for case in HAND_CHECKED],
)
def test_hand_checked_cell(
    results: dict[int, ReadResult],
    edition: int,
    address: str,
    city: str,
    province: str,
    variable: str,
    text: str,
    value: float,
) -> None:
    letter = address.rstrip("0123456789")
    row = _cell(results[edition].kept, int(address[len(letter) :]), letter)
    assert row["city_name"] == city
    assert row["province_name"] == province
    assert row["variable"] == variable
    assert row["original_text"] == text
    assert row["value"] == pytest.approx(value)
    assert row["year"] == edition - 1


def test_kept_row_carries_provenance(
    real_dir: Path, results: dict[int, ReadResult]
) -> None:
    row = _cell(results[2019].kept, 7, "HO")
    assert row["source_id"] == "ccsy_2019"
    assert row["sheet"] == "Sheet1"
    assert row["column_header"] == HO_2019
    assert row["unit"] == "10k kWh"
    assert row["file_sha256"] == _source(real_dir, 2019).sha256


@pytest.mark.parametrize("edition", TESTED_EDITIONS)
def test_frames_follow_contract(results: dict[int, ReadResult], edition: int) -> None:
    result = results[edition]
    assert list(result.kept.columns) == RAW_COLUMNS
    assert list(result.rejected.columns) == REJECTED_COLUMNS
    ids = pd.concat([result.kept["raw_row_id"], result.rejected["raw_row_id"]])
    assert ids.is_unique
    assert (result.kept["year"] == edition - 1).all()
    assert (result.rejected["year"] == edition - 1).all()


def test_every_candidate_cell_is_accounted(results: dict[int, ReadResult]) -> None:
    # 2016: 319 body rows (城市合计, 27 province rows, 291 cities), 10 mapped columns.
    assert results[2016].rows_read == 319 * 10
    # 2019: 325 body rows minus 27 empty province headings, 9 mapped columns.
    assert results[2019].rows_read == 298 * 9


def test_city_labels_are_stripped(results: dict[int, ReadResult]) -> None:
    # A210 of the 2017 volume is '  深圳市' and A211 of the 2021 volume '  深圳市'.
    assert _cell(results[2017].kept, 210, "GS")["city_name"] == "深圳市"
    assert _cell(results[2021].kept, 211, "DM")["city_name"] == "深圳市"


def test_municipality_is_its_own_province(results: dict[int, ReadResult]) -> None:
    shanghai = results[2019].kept.query("city_name == '上海市'")
    assert len(shanghai) > 0
    assert set(shanghai["province_name"]) == {"上海市"}


def test_text_number_parses(results: dict[int, ReadResult]) -> None:
    # GS5 of the 2017 volume is stored as the text '10202704'.
    assert _cell(results[2017].kept, 5, "GS")["value"] == 10202704.0


def test_trailing_newline_number_parses(real_dir: Path, tmp_path: Path) -> None:
    # G5 of the 2017 volume (自然增长率, 市辖区) is the text '8.53\n'; no mapped
    # column of that volume has such cells, so a test map reads G in place of C.
    column_map = pd.read_csv(
        map_path_for("ccsy_2017"), dtype=str, keep_default_na=False
    )
    mapped = column_map["column_letter"] == "C"
    column_map.loc[column_map["column_letter"] == "G", ["variable", "unit"]] = [
        "population_registered_10k",
        "10k persons",
    ]
    column_map.loc[column_map["column_letter"] == "G", "scale_factor"] = "1"
    column_map.loc[column_map["column_letter"] == "G", "scope"] = "districts"
    column_map.loc[mapped, ["variable", "unit", "scale_factor", "scope"]] = ""
    map_path = tmp_path / "ccsy_2017.csv"
    column_map.to_csv(map_path, index=False)

    result = read_yearbook(_source(real_dir, 2017), map_path)
    row = _cell(result.kept, 5, "G")
    assert row["original_text"] == "8.53\n"
    assert row["value"] == 8.53


# --- rejected cells --------------------------------------------------------------


def test_national_total_row_is_rejected(results: dict[int, ReadResult]) -> None:
    # A5 of the 2016 volume is 城市合计 and GX5 contains 265770450.
    row = _cell(results[2016].rejected, 5, "GX")
    assert row["reason"] == "national total row"
    assert row["original_text"] == "265770450"
    assert row["city_name"] == ""
    assert len(results[2016].rejected.query("row_number == 5")) == 10
    assert len(results[2016].kept.query("row_number == 5")) == 0


def test_province_subtotal_row_is_rejected(results: dict[int, ReadResult]) -> None:
    # A8 of the 2016 volume is 河北省 and GX8 contains the subtotal 13920622.
    row = _cell(results[2016].rejected, 8, "GX")
    assert row["reason"] == "province subtotal row"
    assert row["original_text"] == "13920622"
    assert row["city_name"] == ""
    assert row["province_name"] == "河北省"
    assert len(results[2016].kept.query("row_number == 8")) == 0


def test_empty_province_heading_is_skipped(results: dict[int, ReadResult]) -> None:
    # A9 of the 2019 volume is 河北省 with no values (HO9 is empty).
    assert len(results[2019].kept.query("row_number == 9")) == 0
    assert len(results[2019].rejected.query("row_number == 9")) == 0


def test_empty_city_cell_is_rejected(results: dict[int, ReadResult]) -> None:
    # GS8 of the 2017 volume (石家庄市, electricity) is an empty text cell.
    row = _cell(results[2017].rejected, 8, "GS")
    assert row["reason"] == "empty cell"
    assert row["city_name"] == "石家庄市"


def test_ocr_noise_is_rejected(results: dict[int, ReadResult]) -> None:
    # AT72 of the 2020 volume (大庆市, budget expenditure) is '315909!'.
    row = _cell(results[2020].rejected, 72, "AT")
    assert row["reason"] == "not a number: '315909!'"


def test_cell_under_merged_range_is_rejected(real_dir: Path, tmp_path: Path) -> None:
    # BT33:BV33 of the 2020 volume is merged (呼和浩特市, 25733 in BT33), so BU33
    # is hidden. A test map reads column BU.
    column_map = pd.read_csv(
        map_path_for("ccsy_2020"), dtype=str, keep_default_na=False
    )
    column_map.loc[
        column_map["column_letter"] == "BU",
        ["variable", "unit", "scale_factor", "scope"],
    ] = ["buses_per_10k_residents", "vehicles per 10k residents", "1", "districts"]
    map_path = tmp_path / "ccsy_2020.csv"
    column_map.to_csv(map_path, index=False)

    result = read_yearbook(_source(real_dir, 2020), map_path)
    row = _cell(result.rejected, 33, "BU")
    assert row["reason"] == "cell hidden under merged range BT33:BV33"
    assert row["city_name"] == "呼和浩特市"


def test_digits_split_by_space_are_rejected(real_dir: Path, tmp_path: Path) -> None:
    # AT85 of the 2018 volume (南通市, 科学技术支出 of the 市辖区) is the text
    # '107284 536966', two numbers run together. A test map reads column AT.
    column_map = pd.read_csv(
        map_path_for("ccsy_2018"), dtype=str, keep_default_na=False
    )
    column_map.loc[
        column_map["column_letter"] == "AT",
        ["variable", "unit", "scale_factor", "scope"],
    ] = ["buses_per_10k_residents", "vehicles per 10k residents", "1", "districts"]
    map_path = tmp_path / "ccsy_2018.csv"
    column_map.to_csv(map_path, index=False)

    result = read_yearbook(_source(real_dir, 2018), map_path)
    row = _cell(result.rejected, 85, "AT")
    assert row["reason"] == ("not a number: '107284 536966' (digits split by a space)")
    assert row["city_name"] == "南通市"


# --- header paths and drift ------------------------------------------------------


def test_header_paths_expand_merged_cells(real_dir: Path) -> None:
    # HM1:HQ2, HO3:HQ3 and HO4:HO5 are merged in the 2019 volume.
    paths = header_paths(_path(real_dir, 2019)).set_index("column_letter")
    assert paths.loc["HO", "header_path"] == HO_2019
    assert paths.loc["HP", "header_path"] == HP_2019


def test_header_paths_do_not_fill_from_left(real_dir: Path) -> None:
    # In the 2008 volume CH1:CL1 (主要农产品产量（吨）) is merged, CM1 is empty
    # and outside any merged range, and CM2:CM4 hides the text '全市' in CM3.
    paths = header_paths(_path(real_dir, 2008)).set_index("column_letter")
    assert paths.loc["CL", "header_path"] == "主要农产品产量（吨） | 水产品产量"
    assert paths.loc["CM", "header_path"] == "人均蔬菜产量"
    assert paths.loc["CN", "header_path"] == "人均水果产量"


def test_header_paths_normalise_whitespace(real_dir: Path) -> None:
    paths = header_paths(_path(real_dir, 2016)).set_index("column_letter")
    assert paths.loc["GX", "header_path"] == GX_2016


@pytest.mark.parametrize("edition", EDITIONS)
def test_header_drift_empty_for_own_map(real_dir: Path, edition: int) -> None:
    drift = header_drift(_path(real_dir, edition), map_path_for(f"ccsy_{edition}"))
    assert drift.empty, drift.to_string()


def test_header_drift_reports_changes(real_dir: Path, tmp_path: Path) -> None:
    column_map = pd.read_csv(
        map_path_for("ccsy_2019"), dtype=str, keep_default_na=False
    )
    column_map = column_map.loc[column_map["column_letter"] != "HP"]
    fake = {column: "" for column in column_map.columns}
    fake.update(header_path="售水、用水及用电情况 | 用电量 | 全市", column_letter="ZZ")
    column_map = pd.concat([column_map, pd.DataFrame([fake])], ignore_index=True)
    map_path = tmp_path / "ccsy_2019.csv"
    column_map.to_csv(map_path, index=False)

    drift = header_drift(_path(real_dir, 2019), map_path)
    assert drift.to_dict("records") == [
        {"header_path": HP_2019, "column_letter": "HP", "status": "unmapped"},
        {
            "header_path": "售水、用水及用电情况 | 用电量 | 全市",
            "column_letter": "ZZ",
            "status": "missing",
        },
    ]


# --- absent variables and errors -------------------------------------------------


def test_absent_variables(results: dict[int, ReadResult]) -> None:
    variables_2017 = set(results[2017].kept["variable"])
    variables_2021 = set(results[2021].kept["variable"])
    assert not any(name.startswith("electricity") for name in variables_2021)
    assert "buses_per_10k_residents_districts" not in variables_2017
    assert "population_registered_10k_whole_city" not in variables_2021


def test_2018_map_has_districts_gdp_only() -> None:
    column_map = load_column_map(map_path_for("ccsy_2018"))
    gdp = column_map.loc[column_map["variable"] == "gdp_10k_yuan"]
    assert gdp["scope"].tolist() == ["districts"]


def test_missing_map_names_file_to_write(real_dir: Path, tmp_path: Path) -> None:
    map_path = tmp_path / "ccsy_2019.csv"
    with pytest.raises(SourceFormatError, match="ccsy_2019.csv"):
        read_yearbook(_source(real_dir, 2019), map_path)


def test_wrong_edition_is_rejected(real_dir: Path) -> None:
    # The 2017 volume's title names data year 2016, not 2017 as ccsy_2018 would.
    source = _source(real_dir, 2017, source_id="ccsy_2018")
    with pytest.raises(SourceFormatError, match="data year 2016"):
        read_yearbook(source, map_path_for("ccsy_2017"))


def test_mapped_path_not_in_volume_is_rejected(real_dir: Path) -> None:
    with pytest.raises(SourceFormatError, match="not found in the volume"):
        read_yearbook(_source(real_dir, 2019), map_path_for("ccsy_2020"))


def test_map_with_wrong_unit_is_rejected(tmp_path: Path) -> None:
    map_path = tmp_path / "ccsy_2019.csv"
    shutil.copy(map_path_for("ccsy_2019"), map_path)
    text = map_path.read_text(encoding="utf-8")
    map_path.write_text(text.replace(",10k kWh,", ",kWh,", 1), encoding="utf-8")
    with pytest.raises(SourceFormatError, match="unit 'kWh'"):
        load_column_map(map_path)


def test_read_takes_seconds(real_dir: Path) -> None:
    source = _source(real_dir, 2014)
    start = time.perf_counter()
    read_yearbook(source)
    assert time.perf_counter() - start < 5
