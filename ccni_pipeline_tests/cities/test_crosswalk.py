"""Tests of the city crosswalk against the real source files and the NBS codes."""

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from ccni_pipeline.cities import crosswalk
from ccni_pipeline.sources.cells import cell_text

CITY_PANEL = Path("cn_city_panel_gp/raw")
CEADS_WORKBOOK = Path(
    "ceads_openclimate/raw_city/"
    "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx"
)


def resolve_one(city_name: str, province_name: str = "", code: str = "") -> dict:
    frame = pd.DataFrame(
        {
            "city_name": [city_name],
            "province_name": [province_name],
            "source_city_code": [code],
            "year": [2010],
        }
    )
    return crosswalk.resolve_cities(frame).iloc[0].to_dict()


# --- hard names ------------------------------------------------------------------

HARD_NAMES = [
    # (city_name, province_name, source_city_code, city_code, resolution)
    ("安徽巢湖", "", "", "341400", "historical"),
    ("山东莱芜", "", "", "371200", "historical"),
    ("湖北襄樊", "", "", "420600", "historical"),
    ("襄樊市", "", "", "420600", "historical"),
    ("襄阳市", "湖北省", "", "420600", "province+name"),
    ("北京", "", "", "110000", "name"),
    ("北京市", "北京市", "", "110000", "province+name"),
    ("广东深圳", "", "", "440300", "name"),
    ("深圳", "Guangdong", "", "440300", "province+name"),
    ("吉林延边", "", "", "222400", "name"),
    ("延边朝鲜族自治州", "吉林省", "", "222400", "province+name"),
    ("贵州黔东南", "", "", "522600", "name"),
    ("湖北恩施州", "", "", "422800", "name"),
    ("湖北潜江", "", "", "429005", "name"),
    ("湖北仙桃", "", "", "429004", "name"),
    # 天门 is not in the CEADs matrix, so the province prefix is split off.
    ("湖北天门", "", "", "429006", "province+name"),
    ("河南济源", "", "", "419001", "name"),
    ("新疆石河子", "", "", "659001", "name"),
    ("新疆伊犁州直属县", "", "", "654000", "name"),
    ("锡林郭勒盟", "内蒙古自治区", "", "152500", "province+name"),
    ("锡林郭勒", "内蒙古", "", "152500", "province+name"),
    ("兴安盟", "Inner Mongolia", "", "152200", "province+name"),
    ("吉林", "吉林省", "", "220200", "province+name"),
    ("朝阳", "", "", "211300", "name"),
    ("思茅", "云南", "", "530800", "historical"),
    ("铜仁地区", "贵州", "", "520600", "historical"),
    ("　深圳市 ", "", "", "440300", "name"),
    ("Xi'an", "Shaanxi", "", "610100", "province+name"),
    ("Jiyuan shi", "Henan", "", "419001", "province+name"),
    ("Suzhou", "Anhui", "", "341300", "province+name"),
    ("Suzhou", "江苏", "", "320500", "province+name"),
    ("浙江台州", "", "", "331000", "name"),
    ("江苏泰州", "", "", "321200", "name"),
]


@pytest.mark.parametrize(
    ("city_name", "province_name", "code", "expected_code", "expected_resolution"),
    HARD_NAMES,
)
def test_hard_name_resolves(
    city_name, province_name, code, expected_code, expected_resolution
):
    row = resolve_one(city_name, province_name, code)
    assert row["city_code"] == expected_code
    assert row["resolution"] == expected_resolution
    assert row["unresolved_reason"] == ""


CODES = [
    # (source_city_code, city_name, city_code, resolution)
    ("440300", "深圳市", "440300", "code"),
    ("652100", "吐鲁番市", "650400", "code_change"),
    ("652200", "哈密地区", "650500", "code_change"),
    ("542400", "那曲地区", "540600", "code_change"),
    ("469003", "儋州市", "460400", "code_change"),
    ("522200", "", "520600", "code_change"),
    ("532700", "", "530800", "code_change"),
    ("341400", "巢湖市", "341400", "historical_code"),
    ("371200", "莱芜市", "371200", "historical_code"),
    ("654100", "伊犁地区", "654100", "historical_code"),
    ("110100", "", "110000", "code"),
    ("500200", "", "500000", "code"),
    ("440300.0", "", "440300", "code"),
]


@pytest.mark.parametrize(("code", "city_name", "expected_code", "resolution"), CODES)
def test_source_code_resolves(code, city_name, expected_code, resolution):
    row = resolve_one(city_name, "", code)
    assert row["city_code"] == expected_code
    assert row["resolution"] == resolution


def test_source_code_wins_over_name():
    row = resolve_one("广州市", "广东省", "440300")
    assert row["city_code"] == "440300"
    assert row["resolution"] == "code"


def test_unknown_code_falls_back_to_name():
    row = resolve_one("深圳市", "广东省", "449999")
    assert row["city_code"] == "440300"
    assert row["resolution"] == "province+name"


def test_ambiguous_name_needs_province():
    row = resolve_one("Suzhou")
    assert row["city_code"] is None
    assert row["resolution"] is None
    assert row["unresolved_reason"] == (
        "name 'Suzhou' is ambiguous: 320500 江苏省苏州市, 341300 安徽省宿州市; "
        "give the province"
    )


def test_ambiguous_taizhou_lists_both():
    reason = resolve_one("Taizhou")["unresolved_reason"]
    assert "321200 江苏省泰州市" in reason
    assert "331000 浙江省台州市" in reason


def test_name_in_other_province_rejected():
    row = resolve_one("吉林", "辽宁省")
    assert row["city_code"] is None
    assert row["unresolved_reason"] == (
        "name '吉林' is not in province '辽宁省': 220200 吉林省吉林市"
    )


def test_unknown_name_reason():
    row = resolve_one("辛集", "河北")
    assert row["city_code"] is None
    assert row["unresolved_reason"] == "name '辛集' not in the crosswalk"


def test_unknown_province_in_reason():
    reason = resolve_one("火星市", "Mars")["unresolved_reason"]
    assert (
        reason == "name '火星市' not in the crosswalk; province 'Mars' not recognised"
    )


def test_empty_name_reason():
    assert resolve_one("")["unresolved_reason"] == "no city name"


def test_resolution_keeps_index_and_duplicates():
    frame = pd.DataFrame(
        {
            "city_name": ["北京市", "安徽巢湖", "北京市", "火星"],
            "province_name": ["北京市", "", "北京市", ""],
            "source_city_code": ["110000", "", "110000", ""],
            "year": [2000, 2001, 2002, 2003],
        },
        index=[10, 7, 3, 99],
    )
    result = crosswalk.resolve_cities(frame)
    assert list(result.index) == [10, 7, 3, 99]
    assert list(result.columns) == ["city_code", "resolution", "unresolved_reason"]
    assert result["city_code"].tolist() == ["110000", "341400", "110000", None]


def test_resolution_without_optional_columns():
    result = crosswalk.resolve_cities(pd.DataFrame({"city_name": ["湖南长沙"]}))
    assert result.loc[0, "city_code"] == "430100"


def test_resolution_requires_city_name():
    with pytest.raises(ValueError, match="city_name"):
        crosswalk.resolve_cities(pd.DataFrame({"name": ["长沙"]}))


# --- provinces -------------------------------------------------------------------

PROVINCE_FORMS = [
    ("广东省", "440000"),
    ("广东", "440000"),
    ("Guangdong", "440000"),
    ("CN-GD", "440000"),
    ("440000", "440000"),
    ("44", "440000"),
    ("Inner Mongolia", "150000"),
    ("InnerMongolia", "150000"),
    ("Nei Mongol", "150000"),
    ("内蒙古自治区", "150000"),
    ("内蒙古", "150000"),
    ("Ningxia Hui", "640000"),
    ("宁夏回族自治区", "640000"),
    ("Guangxi", "450000"),
    ("广西壮族自治区", "450000"),
    ("Xinjiang Uygur", "650000"),
    ("新疆维吾尔自治区", "650000"),
    ("Tibet", "540000"),
    ("Xizang", "540000"),
    ("Beijing Municipality", "110000"),
    ("重庆市", "500000"),
]


@pytest.mark.parametrize(("name", "code"), PROVINCE_FORMS)
def test_province_form_resolves(name, code):
    assert crosswalk.resolve_provinces(pd.Series([name])).iloc[0] == code


def test_unknown_province_is_none():
    codes = crosswalk.resolve_provinces(pd.Series(["Mars", "", None], index=[5, 6, 7]))
    assert codes.tolist() == [None, None, None]
    assert list(codes.index) == [5, 6, 7]


def test_provinces_match_gcam_mapping(real_dir):
    path = real_dir / "gcam_china_province/province_names_mappings.csv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    provinces = crosswalk.load_provinces().set_index("province_code")
    mainland = [row for row in rows if row["GB.Code"] not in {"81", "82"}]
    assert len(mainland) == 31
    for row in mainland:
        code = row["GB.Code"] + "0000"
        assert provinces.loc[code, "iso_3166_2"] == "CN-" + row["province"]
        assert provinces.loc[code, "name_en"] == row["province.name"]


def test_station_list_provinces_resolve(real_dir):
    path = real_dir / "crea_china_air/stationZHnames_with_Fenwei.csv"
    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    pairs = {(row["Province"], row["ProvinceZH"]) for row in rows} - {("NA", "NA")}
    english = crosswalk.resolve_provinces(pd.Series([pair[0] for pair in pairs]))
    chinese = crosswalk.resolve_provinces(pd.Series([pair[1] for pair in pairs]))
    assert len(pairs) == 31
    assert english.notna().all()
    assert english.tolist() == chinese.tolist()


def test_power_series_provinces_resolve(real_dir):
    path = real_dir / "crea_china_power/csv/power_capacity_by_province_and_type.csv"
    with path.open(encoding="utf-8-sig") as handle:
        names = next(row for row in csv.reader(handle) if row[0] == "Name")
    provinces = {name.split(": ")[1] for name in names[1:] if name.count(": ") >= 2}
    # "China: Installed Capacity: Solar Power: YTD" is a national series.
    provinces -= {"Installed Capacity"}
    codes = crosswalk.resolve_provinces(pd.Series(sorted(provinces)))
    assert "Inner Mongolia" in provinces
    assert codes.notna().all(), sorted(provinces)
    assert codes.nunique() == 31


# --- reference tables ------------------------------------------------------------


def test_every_modood_prefecture_is_a_city(real_dir):
    modood = pd.read_csv(real_dir / "admin_codes/modood_cities.csv", dtype=str)
    groups = modood["name"].isin(["市辖区", "县", "省直辖县级行政区划"]) | modood[
        "name"
    ].str.endswith("直辖县级行政区划")
    assert groups.sum() == 9
    codes = set(crosswalk.load_cities()["city_code"])
    missing = sorted(set(modood.loc[~groups, "code"] + "00") - codes)
    assert missing == []
    assert {"110000", "120000", "310000", "500000"} <= codes


def test_every_province_administered_county_is_a_city(real_dir):
    areas = pd.read_csv(real_dir / "admin_codes/modood_areas.csv", dtype=str)
    counties = areas[areas["cityCode"].isin(["4190", "4290", "4690", "6590"])]
    cities = crosswalk.load_cities().set_index("city_code")
    assert len(counties) == 32
    assert set(counties["code"]) <= set(cities.index)
    assert (cities.loc[counties["code"], "level"] == "county-level").all()


def test_cities_table_shape():
    cities = crosswalk.load_cities()
    assert list(cities.columns) == [
        "city_code",
        "name_zh",
        "short_zh",
        "name_en",
        "province_code",
        "level",
        "valid_from",
        "valid_to",
        "successor_code",
    ]
    assert cities["city_code"].is_unique
    assert cities["city_code"].str.fullmatch(r"\d{6}").all()
    assert set(cities["level"]) == {
        "municipality",
        "sub-provincial",
        "prefecture",
        "prefecture-level region",
        "county-level",
    }
    assert (cities["name_en"] != "").all()
    assert cities["name_en"].map(str.isascii).all()
    assert set(cities["province_code"]) <= set(
        crosswalk.load_provinces()["province_code"]
    )


def test_level_counts():
    current = crosswalk.load_cities().query("valid_to == ''")
    counts = current["level"].value_counts()
    assert counts["municipality"] == 4
    assert counts["sub-provincial"] == 15
    assert counts["county-level"] == 32
    assert counts["prefecture"] + counts["prefecture-level region"] == 333 - 15


def test_sub_provincial_cities_match_gdp_panel(real_dir):
    panel = pd.read_excel(
        real_dir / CITY_PANEL / "2000-2023地级市产业结构.xlsx",
        sheet_name="2023",
        engine="calamine",
        dtype=object,
    )
    sub_provincial = panel.loc[panel["城市类别"] == "副省级市", "城市代码"].map(
        cell_text
    )
    cities = crosswalk.load_cities()
    expected = set(cities.loc[cities["level"] == "sub-provincial", "city_code"])
    assert set(sub_provincial) == expected


HISTORICAL_UNITS = [
    # (city_code, name_zh, valid_to, successor_code)
    ("341400", "巢湖市", "2011", ""),
    ("371200", "莱芜市", "2019", "370100"),
    ("654100", "伊犁地区", "2001", "654000"),
    ("532700", "思茅地区", "2003", "530800"),
    ("522200", "铜仁地区", "2011", "520600"),
    ("522400", "毕节地区", "2011", "520500"),
    ("632100", "海东地区", "2013", "630200"),
    ("542300", "日喀则地区", "2014", "540200"),
    ("542100", "昌都地区", "2014", "540300"),
    ("542600", "林芝地区", "2015", "540400"),
    ("542200", "山南地区", "2016", "540500"),
    ("542400", "那曲地区", "2017", "540600"),
    ("652100", "吐鲁番地区", "2015", "650400"),
    ("652200", "哈密地区", "2016", "650500"),
    ("469003", "儋州市", "2015", "460400"),
]


@pytest.mark.parametrize(("code", "name_zh", "valid_to", "successor"), HISTORICAL_UNITS)
def test_historical_unit(code, name_zh, valid_to, successor):
    cities = crosswalk.load_cities().set_index("city_code")
    assert cities.loc[code, "name_zh"] == name_zh
    assert cities.loc[code, "valid_to"] == valid_to
    assert cities.loc[code, "successor_code"] == successor
    if successor:
        assert cities.loc[successor, "valid_to"] == ""


def test_new_units_have_valid_from():
    cities = crosswalk.load_cities().set_index("city_code")
    assert cities.loc["460300", "valid_from"] == "2012"
    assert cities.loc["460400", "valid_from"] == "2015"
    assert cities.loc["650400", "valid_from"] == "2015"
    assert cities.loc["440300", "valid_from"] == ""


def test_boundary_changes_table():
    changes = crosswalk.load_boundary_changes()
    codes = set(crosswalk.load_cities()["city_code"])
    assert set(changes["kind"]) <= {
        "merge",
        "split",
        "transfer",
        "rename",
        "code_change",
        "new",
        "abolish",
    }
    assert set(changes["from_code"]) - {""} <= codes
    assert set(changes["to_code"]) - {""} <= codes
    chaohu = changes[(changes["from_code"] == "341400") & (changes["kind"] == "split")]
    assert sorted(chaohu["to_code"]) == ["340100", "340200", "340500"]
    assert (chaohu["year"] == 2011).all()
    laiwu = changes[changes["from_code"] == "371200"].iloc[0]
    assert (laiwu["year"], laiwu["kind"], laiwu["to_code"]) == (2019, "merge", "370100")
    xiangfan = changes[
        (changes["kind"] == "rename") & (changes["from_code"] == "420600")
    ]
    assert xiangfan["year"].tolist() == [2010]


def test_aliases_point_at_known_cities():
    aliases = crosswalk.load_aliases()
    cities = crosswalk.load_cities()
    assert set(aliases["city_code"]) <= set(cities["city_code"])
    assert set(aliases["kind"]) == {
        "full",
        "short",
        "variant",
        "ceads",
        "historical",
        "english",
        "typo",
    }
    shared = aliases.groupby("alias")["city_code"].transform("nunique") > 1
    assert (aliases.loc[shared, "province_code"] != "").all()
    # misprints are tied to the province they were seen in
    plain = ~shared & (aliases["kind"] != "typo")
    assert (aliases.loc[plain, "province_code"] == "").all()


def test_no_chinese_short_name_is_shared():
    current = crosswalk.load_cities().query("valid_to == ''")
    assert current["short_zh"].is_unique
    assert current["name_zh"].is_unique


def test_english_names_shared_by_two_cities():
    aliases = crosswalk.load_aliases()
    shared = aliases[(aliases["province_code"] != "") & (aliases["kind"] != "typo")]
    assert sorted(shared["alias"].unique()) == [
        "Fuzhou",
        "Suzhou",
        "Taizhou",
        "Yichun",
        "Yulin",
    ]


# --- English names ---------------------------------------------------------------

ENGLISH_NAMES = {
    "430100": "Changsha",
    "220100": "Changchun",
    "140400": "Changzhi",
    "500000": "Chongqing",
    "350200": "Xiamen",
    "340300": "Bengbu",
    "341500": "Lu'an",
    "331100": "Lishui",
    "530700": "Lijiang",
    "511100": "Leshan",
    "341600": "Bozhou",
    "350300": "Putian",
    "441900": "Dongguan",
    "532900": "Dali",
    "440500": "Shantou",
    "130300": "Qinhuangdao",
    "211300": "Chaoyang",
    "150900": "Ulanqab",
    "150100": "Hohhot",
    "650100": "Urumqi",
    "540100": "Lhasa",
    "540200": "Shigatse",
    "653100": "Kashgar",
    "610100": "Xi'an",
    "370900": "Tai'an",
    "360800": "Ji'an",
    "610600": "Yan'an",
    "320800": "Huai'an",
    "511800": "Ya'an",
    "511600": "Guang'an",
    "340500": "Ma'anshan",
    "411100": "Luohe",
    "230100": "Harbin",
    "150600": "Ordos",
    "141100": "Luliang",
    "222400": "Yanbian",
    "530800": "Pu'er",
    "232700": "Daxing'anling",
    "110000": "Beijing",
}


@pytest.mark.parametrize(("code", "name_en"), ENGLISH_NAMES.items())
def test_english_name(code, name_en):
    cities = crosswalk.load_cities().set_index("city_code")
    assert cities.loc[code, "name_en"] == name_en


def test_english_names_match_crea(real_dir):
    key_regions = pd.read_csv(
        real_dir / "crea_china_power/csv/air_pollution_key_regions_2023.csv", dtype=str
    )
    winter = pd.read_csv(
        real_dir / "crea_china_air/winter_targets_2020_2021.csv",
        dtype=str,
        keep_default_na=False,
    )
    winter = winter[~winter["CityEN"].isin(["", "sub-city region"])]
    pairs = pd.concat(
        [
            key_regions.set_axis(
                ["city_en", "province_en", "city_zh", "province_zh"] + [1, 2, 3], axis=1
            )[["city_en", "province_en", "city_zh", "province_zh"]],
            pd.DataFrame(
                {
                    "city_en": winter["CityEN"],
                    "province_en": winter["Province"],
                    "city_zh": winter["CityZH"],
                    "province_zh": winter["Province"],
                }
            ),
        ]
    ).drop_duplicates()
    by_chinese = crosswalk.resolve_cities(
        pairs.rename(columns={"city_zh": "city_name", "province_zh": "province_name"})
    )
    resolved = by_chinese["city_code"].notna()
    # 辛集, 定州 and 韩城 are county-level cities inside a prefecture.
    assert sorted(pairs.loc[~resolved, "city_zh"]) == ["定州", "辛集", "韩城"]
    names = by_chinese.loc[resolved, "city_code"].map(
        crosswalk.load_cities().set_index("city_code")["name_en"]
    )
    mismatched = pairs.loc[resolved, "city_en"] != names
    assert pairs.loc[resolved][mismatched].empty


# --- source files ----------------------------------------------------------------


def read_pairs(path: Path, sheet: str, columns: dict[str, str]) -> pd.DataFrame:
    """Return the distinct (city_name, province_name, source_city_code) of a sheet."""
    table = pd.read_excel(path, sheet_name=sheet, engine="calamine", dtype=object)
    pairs = pd.DataFrame(index=table.index)
    for name in ["city_name", "province_name", "source_city_code"]:
        header = columns.get(name)
        pairs[name] = table[header].map(cell_text).str.strip() if header else ""
    return pairs[pairs["city_name"] != ""].drop_duplicates(ignore_index=True)


def resolve_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    result = crosswalk.resolve_cities(pairs)
    levels = crosswalk.load_cities().set_index("city_code")["level"]
    return pairs.join(result).assign(level=result["city_code"].map(levels))


def test_gdp_panel_resolves(real_dir):
    path = real_dir / CITY_PANEL / "2000-2023地级市产业结构.xlsx"
    sheet = openpyxl.load_workbook(path, read_only=True)["面板数据2000-2023"]
    cells = {
        number: [cell.value for cell in row[:5]]
        for number, row in enumerate(sheet.iter_rows(), start=1)
    }
    assert cells[2599] == [2010, "巢湖市", 341400, "地级市", "安徽省"]
    assert cells[5489] == [2015, "儋州市", 469003, "地级市", "海南省"]
    assert cells[7728] == [2023, "吐鲁番市", 652100, "地级市", "新疆维吾尔自治区"]
    assert cells[7929] == [2000, "伊犁地区", 654100, "地级市", "新疆维吾尔自治区"]

    pairs = read_pairs(
        path,
        "面板数据2000-2023",
        {
            "city_name": "城市名称",
            "province_name": "省份名称",
            "source_city_code": "城市代码",
        },
    )
    result = resolve_pairs(pairs)
    assert len(pairs) == 342
    assert result["city_code"].notna().all()
    assert result["resolution"].value_counts().to_dict() == {
        "code": 334,
        "code_change": 5,
        "historical_code": 3,
    }
    recoded = result[result["resolution"] == "code_change"]
    assert dict(
        zip(recoded["source_city_code"], recoded["city_code"], strict=True)
    ) == {
        "469003": "460400",
        "542400": "540600",
        "652100": "650400",
        "652200": "650500",
    }


def test_population_panel_resolves(real_dir):
    path = real_dir / CITY_PANEL / "298个地级市人口密度1998-2024年无缺失.xlsx"
    pairs = read_pairs(
        path,
        "面板数据",
        {"city_name": "城市", "province_name": "省份", "source_city_code": "城市代码"},
    )
    result = resolve_pairs(pairs)
    assert len(pairs) == 298
    assert result["city_code"].notna().all()
    assert (result["resolution"] == "code").all()


def test_real_gdp_panel_resolves(real_dir):
    path = real_dir / CITY_PANEL / "296个地级市GDP相关数据（以2000年为基期）.xlsx"
    pairs = read_pairs(path, "Sheet1", {"city_name": "城市", "province_name": "省份"})
    result = resolve_pairs(pairs)
    # The one extra "name" is the reseller watermark row at the bottom of column B.
    watermark = "更多数据，关注淘宝店【行行文库】"
    assert len(pairs) == 297
    assert result.loc[result["city_code"].isna(), "city_name"].tolist() == [watermark]
    assert (result["resolution"].dropna() == "province+name").all()
    assert result["resolution"].notna().sum() == 296


def test_edgar_co2_resolves(real_dir):
    path = real_dir / CITY_PANEL / "地级市碳排放强度.xlsx"
    pairs = read_pairs(
        path,
        "Sheet1",
        {
            "city_name": "城市",
            "province_name": "所属省份",
            "source_city_code": "城市代码",
        },
    )
    result = resolve_pairs(pairs)
    assert len(pairs) == 295
    assert result["city_code"].notna().all()
    by_name = crosswalk.resolve_cities(pairs.assign(source_city_code=""))
    assert (by_name["city_code"] == result["city_code"]).all()


def test_pilot_list_92_resolves(real_dir):
    path = real_dir / CITY_PANEL / "试点城市名单.xlsx"
    pairs = read_pairs(path, "Sheet1", {"city_name": "city_name"})
    result = resolve_pairs(pairs)
    assert len(pairs) == 92
    assert result["city_code"].notna().all()
    assert result["city_code"].is_unique


def test_pilot_list_135_resolves(real_dir):
    path = real_dir / CITY_PANEL / "低碳城市试点名单_did-0206.xlsx"
    sheet = openpyxl.load_workbook(path, read_only=True)["Sheet1"]
    assert [cell.value for cell in sheet["A65:C65"][0]] == ["襄樊市", 2010, "第一批"]
    assert [cell.value for cell in sheet["A104:C104"][0]] == ["济源市", 2012, "第二批"]

    pairs = read_pairs(path, "Sheet1", {"city_name": "城市名"})
    result = resolve_pairs(pairs).set_index("city_name")
    assert len(pairs) == 135
    assert result["city_code"].notna().all()
    assert result.loc["襄樊市", "city_code"] == "420600"
    assert result.loc["襄樊市", "resolution"] == "historical"
    assert result.loc["济源市", "level"] == "county-level"


def test_ceads_matrix_resolves(real_dir):
    path = real_dir / CEADS_WORKBOOK
    sheet = openpyxl.load_workbook(path, read_only=True)["emission matrix"]
    assert sheet["A5"].value == "安徽巢湖"
    assert sheet["A123"].value == "湖北恩施州"
    assert sheet["A216"].value == "山东莱芜"
    assert sheet["A275"].value == "新疆伊犁州直属县"

    pairs = read_pairs(path, "emission matrix", {"city_name": "city"})
    result = resolve_pairs(pairs).set_index("city_name")
    assert len(pairs) == 290
    assert result["city_code"].notna().all()
    assert result["city_code"].is_unique
    county_level = result[result["level"] == "county-level"]
    assert county_level["city_code"].to_dict() == {
        "河南济源": "419001",
        "湖北潜江": "429005",
        "湖北仙桃": "429004",
        "新疆石河子": "659001",
    }
    assert result.loc["安徽巢湖", "resolution"] == "historical"
    assert result.loc["山东莱芜", "resolution"] == "historical"


def test_ceads_strings_are_aliases(real_dir):
    pairs = read_pairs(
        real_dir / CEADS_WORKBOOK, "emission matrix", {"city_name": "city"}
    )
    aliases = set(crosswalk.load_aliases()["alias"])
    assert set(pairs["city_name"]) <= aliases


# --- boundary flags --------------------------------------------------------------


def test_boundary_flags_jinan():
    flags = crosswalk.boundary_flags(pd.Series(["370100"], index=[4]), 2015, 2020)
    assert list(flags.index) == [4]
    assert list(flags.columns) == ["city_code", "changed", "note"]
    assert bool(flags.loc[4, "changed"]) is True
    assert flags.loc[4, "note"] == "absorbed 莱芜 (371200) in 2019"


def test_boundary_flags_window_edges():
    codes = pd.Series(["370100", "370100"])
    assert not crosswalk.boundary_flags(codes.iloc[:1], 2000, 2018)["changed"].iloc[0]
    assert crosswalk.boundary_flags(codes.iloc[:1], 2019, 2019)["changed"].iloc[0]


def test_boundary_flags_chaohu_split():
    codes = pd.Series(["340100", "340200", "340500", "341400", "340300"])
    flags = crosswalk.boundary_flags(codes, 2010, 2012)
    assert flags["changed"].tolist() == [True, True, True, True, False]
    assert flags.loc[0, "note"] == "absorbed part of 巢湖 (341400) in 2011"
    assert flags.loc[3, "note"].count("abolished, part went to") == 3
    assert flags.loc[4, "note"] == ""


def test_boundary_flags_ignore_renames_and_code_changes():
    codes = pd.Series(["420600", "650400", "652100", "520600"])
    flags = crosswalk.boundary_flags(codes, 2000, 2023)
    assert not flags["changed"].any()


def test_boundary_flags_transfer_and_new():
    codes = pd.Series(["340700", "340800", "460300"])
    flags = crosswalk.boundary_flags(codes, 2010, 2020)
    assert flags["changed"].tolist() == [True, True, True]
    assert flags.loc[1, "note"] == "lost territory to 铜陵 (340700) in 2015"
    assert flags.loc[2, "note"] == "established in 2012"


def test_yearbook_misprints_resolve():
    frame = pd.DataFrame(
        {
            "city_name": ["毫州市", "荷泽市", "那曲冇", "秦％岛市"],
            "province_name": ["安徽省", "山东省", "西藏自冶区", "河北省"],
            "source_city_code": ["", "", "", ""],
            "year": [2001, 2019, 2018, 2015],
        }
    )
    resolved = crosswalk.resolve_cities(frame)
    assert list(resolved["city_code"]) == ["341600", "371700", "540600", "130300"]
