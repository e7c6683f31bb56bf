"""Tests of the Net Zero Tracker and UN/LOCODE name readers, and the LOCODE map."""

import csv
import hashlib
from pathlib import Path

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
from ccni_pipeline.sources.targets import (
    DETAIL_COLUMNS,
    net_zero_tracker_details,
    read_net_zero_tracker,
    read_unlocode_names,
)

PROCESSED = "ceads_openclimate/processed"
NZT_CSV = f"{PROCESSED}/net_zero_tracker_CN_Target.csv"
UNLOCODE_CSV = f"{PROCESSED}/UNLOCODE_CN_city_names_partial.csv"
PROVINCE_WORKBOOK_2019 = (
    "ceads_openclimate/raw_provinces/Emission_Inventories_for_30_Provinces_2019.xlsx"
)
LOCODE_MAP = (
    Path(__file__).resolve().parents[2]
    / "ccni_pipeline"
    / "cities"
    / "locode_to_division.csv"
)
NZT_HEADER = (
    "target_id,actor_id,target_type,baseline_year,target_year,target_value,"
    "target_unit,URL,datasource_id"
)

# CEADs city name of every LOCODE whose OpenClimate CEADs series is checked below.
CEADS_NAME_BY_LOCODE = {
    "CN SGH": "上海",
    "CN BJS": "北京",
    "CN CDU": "四川成都",
    "CN DAL": "辽宁大连",
    "CN HAZ": "浙江杭州",
    "CN NHN": "湖北武汉",
    "CN NJI": "江苏南京",
    "CN QIN": "山东青岛",
    "CN SNZ": "广东深圳",
    "CN FUZ": "江西抚州",
}


def _source(real_dir: Path, relative: str, source_id: str) -> SourceFile:
    path = real_dir / relative
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id=source_id, path=path, sha256=sha256)


@pytest.fixture(scope="module")
def nzt_source(real_dir) -> SourceFile:
    return _source(real_dir, NZT_CSV, "net_zero_tracker")


@pytest.fixture(scope="module")
def nzt(nzt_source):
    return read_net_zero_tracker(nzt_source)


@pytest.fixture(scope="module")
def names(real_dir):
    return read_unlocode_names(_source(real_dir, UNLOCODE_CSV, "unlocode_cn_names"))


@pytest.fixture(scope="module")
def locode_map() -> pd.DataFrame:
    return pd.read_csv(LOCODE_MAP, dtype=str, keep_default_na=False)


def _row(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    rows = frame[frame[column] == value]
    assert len(rows) == 1, f"expected one row with {column} = {value!r}"
    return rows.iloc[0]


def test_nzt_columns_follow_contract(nzt):
    assert list(nzt.kept.columns) == RAW_COLUMNS
    assert list(nzt.rejected.columns) == REJECTED_COLUMNS


def test_nzt_reads_all_13_targets(nzt):
    assert nzt.rows_read == 13
    assert len(nzt.kept) == 13
    assert len(nzt.rejected) == 0
    assert nzt.kept["city_name"].is_unique


def test_nzt_shanghai_row_matches_cell_e2(nzt, nzt_source):
    row = _row(nzt.kept, "city_name", "CN SGH")
    assert row["variable"] == "target_year"
    assert row["value"] == 2035.0
    assert row["year"] == 2035
    assert row["value_text"] == "Absolute emission reduction"
    assert row["original_text"] == "2035"
    assert row["row_number"] == 2
    assert row["column_letter"] == "E"
    assert row["column_header"] == "target_year"
    assert row["unit"] == "year"
    assert row["raw_row_id"] == make_row_id(nzt_source.sha256, "", 2, "E")


def test_nzt_province_actor_is_kept(nzt):
    row = _row(nzt.kept, "city_name", "CN-HI")
    assert row["value"] == 2050.0
    assert row["value_text"] == "Climate neutral"
    assert row["row_number"] == 3
    assert row["province_name"] == ""


def test_nzt_target_types(nzt):
    counts = nzt.kept["value_text"].value_counts().to_dict()
    assert counts == {
        "Climate neutral": 9,
        "Net zero": 3,
        "Absolute emission reduction": 1,
    }


def test_nzt_details_keep_baseline_and_url(nzt, nzt_source):
    details = net_zero_tracker_details(nzt_source)
    assert list(details.columns) == DETAIL_COLUMNS
    assert len(details) == 13

    shanghai = _row(details, "actor_id", "CN SGH")
    assert shanghai["target_id"] == "net_zero_tracker:CN SGH:2035"
    assert shanghai["baseline_year"] == 2025
    assert shanghai["target_year"] == 2035
    assert shanghai["target_value"] == 5.0
    assert shanghai["target_unit"] == "percent"
    assert shanghai["url"].startswith("https://fgw.sh.gov.cn/")

    beijing = _row(details, "actor_id", "CN BJS")
    assert pd.isna(beijing["baseline_year"])
    assert pd.isna(beijing["target_value"])
    assert beijing["url"] == ""

    joined = details.merge(nzt.kept, on="raw_row_id", validate="one_to_one")
    assert len(joined) == 13
    assert (joined["actor_id"] == joined["city_name"]).all()


def test_nzt_fuzhou_rows_share_one_url(nzt_source):
    details = net_zero_tracker_details(nzt_source)
    fuzhou = details[details["actor_id"].isin(["CN FUZ", "CN FZH", "CN ZZU"])]
    assert len(fuzhou) == 3
    assert fuzhou["url"].nunique() == 1
    assert fuzhou["url"].iloc[0].startswith("https://www.fuzhou.gov.cn/")


def test_nzt_bad_target_year_is_rejected(tmp_path):
    path = tmp_path / "nzt.csv"
    path.write_text(
        "\n".join(
            [
                NZT_HEADER,
                "t1,CN AAA,Net zero,,2050.5,,,,nzt",
                "t2,CN BBB,Net zero,,,,,,nzt",
                "t3,,Net zero,,2060,,,,nzt",
                "t4,CN CCC,Net zero,,2060,,,,nzt",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = read_net_zero_tracker(SourceFile("net_zero_tracker", path, "0" * 64))

    assert result.rows_read == 4
    assert list(result.kept["city_name"]) == ["CN CCC"]
    reasons = dict(
        zip(result.rejected["row_number"], result.rejected["reason"], strict=True)
    )
    assert reasons[2] == "target year is not a whole number: 2050.5"
    assert reasons[3] == "empty cell"
    assert reasons[4] == "actor_id is empty, so the target has no actor"


def test_nzt_missing_column_raises(tmp_path):
    path = tmp_path / "nzt.csv"
    path.write_text("target_id,actor_id\nt1,CN AAA\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="target_year"):
        read_net_zero_tracker(SourceFile("net_zero_tracker", path, "0" * 64))


def test_unlocode_reads_all_names(names):
    assert list(names.kept.columns) == RAW_COLUMNS
    assert names.rows_read == 125
    assert len(names.kept) == 125
    assert len(names.rejected) == 0
    assert set(names.kept["year"]) == {2022}


def test_unlocode_beijing_row(names):
    row = _row(names.kept, "city_name", "CN BJS")
    assert row["value_text"] == "Beijing"
    assert row["original_text"] == "Beijing"
    assert row["variable"] == "locode_name_en"
    assert row["row_number"] == 6
    assert row["column_letter"] == "A"
    assert pd.isna(row["value"])


def test_unlocode_alternative_name(names):
    hohhot = names.kept[names.kept["city_name"] == "CN HHH"]
    variables = dict(zip(hohhot["value_text"], hohhot["variable"], strict=True))
    assert variables == {
        "Huhehaote": "locode_name_en",
        "Hohhot": "locode_alt_name_en",
    }
    assert _row(hohhot, "value_text", "Hohhot")["row_number"] == 37


def test_unlocode_names_three_fuzhou_codes(names):
    rows = names.kept[names.kept["city_name"].isin(["CN FUZ", "CN FZH", "CN ZZU"])]
    assert set(rows["value_text"]) == {"Fuzhou"}
    assert sorted(rows["row_number"]) == [26, 27, 126]


def test_locode_map_covers_nzt_actors(locode_map, nzt):
    assert list(locode_map.columns) == ["locode", "division_code", "name_en", "note"]
    assert set(locode_map["locode"]) == set(nzt.kept["city_name"])
    assert locode_map["locode"].is_unique
    assert locode_map["division_code"].str.fullmatch(r"\d{6}").all()


def test_locode_map_marks_fuzhou_unverified(locode_map):
    unverified = locode_map[locode_map["note"].str.startswith("unverified")]
    assert set(unverified["locode"]) == {"CN FUZ", "CN FZH", "CN ZZU"}
    assert set(unverified["division_code"]) == {"350100"}


def test_locode_map_names_match_unlocode_file(locode_map, names):
    preferred = names.kept[names.kept["variable"] == "locode_name_en"]
    name_by_locode = dict(
        zip(preferred["city_name"], preferred["value_text"], strict=True)
    )
    cities = locode_map[locode_map["locode"] != "CN-HI"]
    for locode, name_en in zip(cities["locode"], cities["name_en"], strict=True):
        assert name_by_locode[locode] == name_en, locode


def test_locode_map_codes_exist_in_division_list(locode_map, real_dir):
    admin = real_dir / "admin_codes"
    with (admin / "modood_cities.csv").open(encoding="utf-8") as handle:
        cities = {row["code"] + "00": row["name"] for row in csv.DictReader(handle)}
    with (admin / "modood_provinces.csv").open(encoding="utf-8") as handle:
        provinces = {
            row["code"] + "0000": row["name"] for row in csv.DictReader(handle)
        }
    expected = {
        "310000": "上海市",
        "110000": "北京市",
        "510100": "成都市",
        "210200": "大连市",
        "350100": "福州市",
        "330100": "杭州市",
        "420100": "武汉市",
        "320100": "南京市",
        "370200": "青岛市",
        "440300": "深圳市",
        "460000": "海南省",
    }
    known = {**cities, **provinces}
    for code, name in expected.items():
        assert known[code] == name, code
    assert set(locode_map["division_code"]) == set(expected)


def test_locode_evidence_from_ceads_series(real_dir):
    """OpenClimate's CEADs city series (tonnes) equals the raw CEADs matrix (Mt)."""
    workbook = openpyxl.load_workbook(
        real_dir
        / "ceads_openclimate/raw_city"
        / "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx",
        read_only=True,
    )
    matrix = list(workbook["emission matrix"].iter_rows(values_only=True))
    workbook.close()
    years = [str(year) for year in matrix[0][1:]]
    raw_mt = {row[0]: dict(zip(years, row[1:], strict=True)) for row in matrix[1:]}

    processed = pd.read_csv(
        real_dir / PROCESSED / "CEADS_china_cities_EmissionsAgg.csv", dtype=str
    )
    for locode, ceads_name in CEADS_NAME_BY_LOCODE.items():
        series = processed[processed["actor_id"] == locode]
        assert len(series) > 0, locode
        for year, tonnes in zip(series["year"], series["total_emissions"], strict=True):
            assert raw_mt[ceads_name][year] * 1e6 == pytest.approx(
                float(tonnes), abs=1.0
            ), (locode, year)

    has_series = set(processed["actor_id"])
    assert "CN FZH" not in has_series
    assert "CN ZZU" not in has_series


def test_hainan_province_code_evidence(real_dir):
    processed = pd.read_csv(
        real_dir / PROCESSED / "CEADS_china_provinces_EmissionsAgg.csv", dtype=str
    )
    hainan_2019 = processed[
        (processed["actor_id"] == "CN-HI") & (processed["year"] == "2019")
    ]
    assert list(hainan_2019["total_emissions"]) == ["43067084"]

    workbook = openpyxl.load_workbook(
        real_dir / PROVINCE_WORKBOOK_2019,
        read_only=True,
    )
    total_row = list(
        workbook["Hainan2019"].iter_rows(min_row=4, max_row=4, values_only=True)
    )[0]
    workbook.close()
    assert total_row[0] == "TotalEmissions"
    assert total_row[-1] * 1e6 == pytest.approx(43067084, abs=1.0)
