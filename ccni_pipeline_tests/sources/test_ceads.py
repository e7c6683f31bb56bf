"""Tests of the CEADs 290-city CO2 reader against the real workbook."""

import hashlib

import openpyxl
import pandas as pd
import pytest

from ccni_pipeline.sources.base import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    SourceFile,
    SourceFormatError,
    make_row_id,
)
from ccni_pipeline.sources.ceads import read_ceads_city_co2

CITY_WORKBOOK = (
    "ceads_openclimate/raw_city/"
    "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx"
)
MATRIX = "emission matrix"


@pytest.fixture(scope="module")
def source(real_dir) -> SourceFile:
    path = real_dir / CITY_WORKBOOK
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id="ceads_city_co2", path=path, sha256=sha256)


@pytest.fixture(scope="module")
def result(source):
    return read_ceads_city_co2(source)


def _one_row(frame: pd.DataFrame, city: str, year: int) -> pd.Series:
    rows = frame[(frame["city_name"] == city) & (frame["year"] == year)]
    assert len(rows) == 1, f"expected one row for {city} {year}, got {len(rows)}"
    return rows.iloc[0]


def test_columns_follow_contract(result):
    assert list(result.kept.columns) == RAW_COLUMNS
    assert list(result.rejected.columns) == REJECTED_COLUMNS


def test_every_matrix_cell_is_kept_or_rejected(result):
    # 290 cities x 24 year columns (1995, 1997-2019); 3,031 cells are blank.
    assert result.rows_read == 290 * 24
    assert len(result.kept) == 3929
    assert len(result.rejected) == 3031


def test_year_columns_skip_1996(result):
    years = set(result.kept["year"]) | set(result.rejected["year"])
    assert years == {1995, *range(1997, 2020)}
    assert 1996 not in years


def test_beijing_2015_matches_cell_u19(result, source):
    row = _one_row(result.kept, "北京", 2015)
    assert row["value"] == 92.7629962471174
    assert row["original_text"] == "92.7629962471174"
    assert row["sheet"] == MATRIX
    assert row["row_number"] == 19
    assert row["column_letter"] == "U"
    assert row["column_header"] == "2015"
    assert row["variable"] == "co2_mt"
    assert row["unit"] == "Mt CO2"
    assert row["province_name"] == ""
    assert row["source_city_code"] == ""
    assert row["raw_row_id"] == make_row_id(source.sha256, MATRIX, 19, "U")


def test_shenzhen_2015_matches_cell_u52(result):
    row = _one_row(result.kept, "广东深圳", 2015)
    assert row["value"] == 29.894445648931512
    assert round(row["value"], 1) == 29.9
    assert row["row_number"] == 52
    assert row["column_letter"] == "U"


def test_city_names_keep_province_prefix(result):
    names = set(result.kept["city_name"]) | set(result.rejected["city_name"])
    assert len(names) == 290
    assert "安徽安庆" in names
    assert "北京" in names
    assert "重庆" in names


def test_chongqing_2019_is_last_cell(result):
    row = _one_row(result.kept, "重庆", 2019)
    assert row["value"] == 156.25468104172418
    assert row["row_number"] == 291
    assert row["column_letter"] == "Y"


def test_blank_cell_is_rejected_row(result):
    row = _one_row(result.rejected, "安徽安庆", 1995)
    assert row["reason"] == "empty cell"
    assert row["stage"] == "read"
    assert row["original_text"] == ""
    assert row["row_number"] == 2
    assert row["column_letter"] == "B"
    assert row["column_header"] == "1995"


def test_rejections_are_all_empty_cells(result):
    assert set(result.rejected["reason"]) == {"empty cell"}


def test_row_ids_are_unique(result):
    ids = pd.concat([result.kept["raw_row_id"], result.rejected["raw_row_id"]])
    assert ids.is_unique


def test_vector_sheet_agrees_with_matrix(result, source):
    # (vector sheet row, city, year, value in column D of that row)
    samples = [
        (2, "北京", 1997, 61.918115152276634),
        (20, "北京", 2015, 92.7629962471174),
        (1399, "安徽安庆", 2000, 4.964461155628707),
        (3136, "广东深圳", 2015, 29.894445648931512),
        (3321, "重庆", 2019, 156.25468104172418),
    ]
    workbook = openpyxl.load_workbook(source.path, read_only=True)
    vector = list(workbook["emission vector"].iter_rows(values_only=True))
    workbook.close()

    for row_number, city, year, value in samples:
        _, vector_city, vector_year, vector_value = vector[row_number - 1]
        assert (vector_city, vector_year, vector_value) == (city, year, value)
        assert _one_row(result.kept, city, year)["value"] == value

    vector_values = {(city, year): value for _, city, year, value in vector[1:]}
    matrix_values = {
        (city, year): value
        for city, year, value in result.kept[["city_name", "year", "value"]].itertuples(
            index=False
        )
    }
    assert vector_values == matrix_values


def test_wrong_header_raises(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = MATRIX
    sheet.append(["城市", "2019"])
    sheet.append(["北京", 1.5])
    path = tmp_path / "wrong_header.xlsx"
    workbook.save(path)

    with pytest.raises(SourceFormatError, match="cell A1"):
        read_ceads_city_co2(SourceFile("ceads_city_co2", path, "0" * 64))


def test_missing_sheet_raises(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.title = "emission vector"
    path = tmp_path / "no_matrix.xlsx"
    workbook.save(path)

    with pytest.raises(SourceFormatError, match="not found"):
        read_ceads_city_co2(SourceFile("ceads_city_co2", path, "0" * 64))
