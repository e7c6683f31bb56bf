"""Build the committed city reference tables from the admin-code files.

Run `python -m ccni_pipeline.cities.build_reference [SOURCE_DIR]` after a change to
the curated constants below or to `boundary_changes.csv`. SOURCE_DIR is the folder
laid out like the delivered source set (default: $CCNI_SOURCE_MIRROR, else
../shared/data/real next to the project). The script reads

- `admin_codes/modood_provinces.csv`, `modood_cities.csv`, `modood_areas.csv`: the
  NBS 2023 division codes (truncated to 2 and 4 digits, padded here to 6);
- the CEADs city workbook, sheet `emission matrix`, for its province+city strings;
- `boundary_changes.csv` (hand-curated, next to this module), for the historical
  units' validity years and successors;

and writes `provinces.csv`, `cities.csv` and `aliases.csv` next to this module.
The curated facts live here as constants: English province names, English city
names that pypinyin gets wrong or that have a conventional non-pinyin spelling,
historical units, and the 15 sub-provincial cities.
"""

import logging
import os
import sys
from pathlib import Path

import pandas as pd
from pypinyin import lazy_pinyin

logger = logging.getLogger(__name__)

MODULE_DIR = Path(__file__).resolve().parent
CEADS_CITY_WORKBOOK = (
    "ceads_openclimate/raw_city/"
    "The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx"
)

# province 2-digit code -> (name_en, name_en_full, name_en_gadm, ISO 3166-2 code).
# name_en is the form in the CREA/Wind series names ("Inner Mongolia", "Tibet"),
# and name_en_gadm the GADM NAME_1 used in the CREA station list ("Nei Mongol").
PROVINCE_ENGLISH = {
    "11": ("Beijing", "Beijing Municipality", "Beijing", "CN-BJ"),
    "12": ("Tianjin", "Tianjin Municipality", "Tianjin", "CN-TJ"),
    "13": ("Hebei", "Hebei Province", "Hebei", "CN-HE"),
    "14": ("Shanxi", "Shanxi Province", "Shanxi", "CN-SX"),
    "15": (
        "Inner Mongolia",
        "Inner Mongolia Autonomous Region",
        "Nei Mongol",
        "CN-NM",
    ),
    "21": ("Liaoning", "Liaoning Province", "Liaoning", "CN-LN"),
    "22": ("Jilin", "Jilin Province", "Jilin", "CN-JL"),
    "23": ("Heilongjiang", "Heilongjiang Province", "Heilongjiang", "CN-HL"),
    "31": ("Shanghai", "Shanghai Municipality", "Shanghai", "CN-SH"),
    "32": ("Jiangsu", "Jiangsu Province", "Jiangsu", "CN-JS"),
    "33": ("Zhejiang", "Zhejiang Province", "Zhejiang", "CN-ZJ"),
    "34": ("Anhui", "Anhui Province", "Anhui", "CN-AH"),
    "35": ("Fujian", "Fujian Province", "Fujian", "CN-FJ"),
    "36": ("Jiangxi", "Jiangxi Province", "Jiangxi", "CN-JX"),
    "37": ("Shandong", "Shandong Province", "Shandong", "CN-SD"),
    "41": ("Henan", "Henan Province", "Henan", "CN-HA"),
    "42": ("Hubei", "Hubei Province", "Hubei", "CN-HB"),
    "43": ("Hunan", "Hunan Province", "Hunan", "CN-HN"),
    "44": ("Guangdong", "Guangdong Province", "Guangdong", "CN-GD"),
    "45": ("Guangxi", "Guangxi Zhuang Autonomous Region", "Guangxi", "CN-GX"),
    "46": ("Hainan", "Hainan Province", "Hainan", "CN-HI"),
    "50": ("Chongqing", "Chongqing Municipality", "Chongqing", "CN-CQ"),
    "51": ("Sichuan", "Sichuan Province", "Sichuan", "CN-SC"),
    "52": ("Guizhou", "Guizhou Province", "Guizhou", "CN-GZ"),
    "53": ("Yunnan", "Yunnan Province", "Yunnan", "CN-YN"),
    "54": ("Tibet", "Tibet Autonomous Region", "Xizang", "CN-XZ"),
    "61": ("Shaanxi", "Shaanxi Province", "Shaanxi", "CN-SN"),
    "62": ("Gansu", "Gansu Province", "Gansu", "CN-GS"),
    "63": ("Qinghai", "Qinghai Province", "Qinghai", "CN-QH"),
    "64": ("Ningxia", "Ningxia Hui Autonomous Region", "Ningxia Hui", "CN-NX"),
    "65": (
        "Xinjiang",
        "Xinjiang Uygur Autonomous Region",
        "Xinjiang Uygur",
        "CN-XJ",
    ),
}

CITY_COLUMNS = [
    "city_code", "name_zh", "short_zh", "name_en", "province_code", "level",
    "valid_from", "valid_to", "successor_code",
]  # fmt: skip

MUNICIPALITY_CODES = {"110000", "120000", "310000", "500000"}

# The 15 sub-provincial cities (副省级市), as classed in the GDP panel's 城市类别.
SUB_PROVINCIAL_CODES = {
    "210100", "210200", "220100", "230100", "320100", "330100", "330200",
    "350200", "370100", "370200", "420100", "440100", "440300", "510100",
    "610100",
}  # fmt: skip

# 4-digit modood city codes that are groups, not units: municipal districts and
# counties (市辖区, 县) and province-administered county-level units.
PSEUDO_CITY_CODES = {"1101", "1201", "3101", "5001", "5002"}
COUNTY_GROUP_CODES = {"4190", "4290", "4690", "6590"}

# Units that no longer exist under this code, with the names the sources use.
# Validity years and successors come from boundary_changes.csv.
# NOTE: only the changes from 2001 on that the sources show are recorded. The
# 地区 -> city conversions of 2000-2004 (巴彦淖尔盟 -> 巴彦淖尔市 and others) are
# not, so those cities have an empty valid_from and their old codes are unknown.
HISTORICAL_UNITS = pd.DataFrame(
    [
        ("341400", "巢湖市", "巢湖", "Chaohu", "prefecture"),
        ("371200", "莱芜市", "莱芜", "Laiwu", "prefecture"),
        ("654100", "伊犁地区", "伊犁", "Ili", "prefecture-level region"),
        ("532700", "思茅地区", "思茅", "Simao", "prefecture-level region"),
        ("522200", "铜仁地区", "铜仁", "Tongren", "prefecture-level region"),
        ("522400", "毕节地区", "毕节", "Bijie", "prefecture-level region"),
        ("632100", "海东地区", "海东", "Haidong", "prefecture-level region"),
        ("542100", "昌都地区", "昌都", "Chamdo", "prefecture-level region"),
        ("542200", "山南地区", "山南", "Shannan", "prefecture-level region"),
        ("542300", "日喀则地区", "日喀则", "Shigatse", "prefecture-level region"),
        ("542400", "那曲地区", "那曲", "Nagqu", "prefecture-level region"),
        ("542600", "林芝地区", "林芝", "Nyingchi", "prefecture-level region"),
        ("652100", "吐鲁番地区", "吐鲁番", "Turpan", "prefecture-level region"),
        ("652200", "哈密地区", "哈密", "Hami", "prefecture-level region"),
        ("469003", "儋州市", "儋州", "Danzhou", "county-level"),
    ],
    columns=["city_code", "name_zh", "short_zh", "name_en", "level"],
)

# Former names of units that still exist under the same code.
FORMER_NAMES = [
    ("420600", "襄樊市"),
    ("530800", "思茅市"),
    ("320800", "淮阴市"),
]

# English names where pypinyin is wrong (polyphones: 长治, 朝阳, 漯河) or where a
# conventional spelling from Mongolian, Uyghur, Tibetan or Manchu is standard.
ENGLISH_OVERRIDES = {
    "长治": "Changzhi",
    "朝阳": "Chaoyang",
    "漯河": "Luohe",
    "哈尔滨": "Harbin",
    "齐齐哈尔": "Qiqihar",
    "呼和浩特": "Hohhot",
    "鄂尔多斯": "Ordos",
    "呼伦贝尔": "Hulunbuir",
    "巴彦淖尔": "Bayannur",
    "乌兰察布": "Ulanqab",
    "兴安": "Hinggan",
    "锡林郭勒": "Xilingol",
    "阿拉善": "Alxa",
    "乌鲁木齐": "Urumqi",
    "克拉玛依": "Karamay",
    "吐鲁番": "Turpan",
    "博尔塔拉": "Bortala",
    "巴音郭楞": "Bayingolin",
    "克孜勒苏": "Kizilsu",
    "喀什": "Kashgar",
    "和田": "Hotan",
    "伊犁": "Ili",
    "阿勒泰": "Altay",
    "阿克苏": "Aksu",
    "阿拉尔": "Aral",
    "图木舒克": "Tumxuk",
    "可克达拉": "Kokdala",
    "拉萨": "Lhasa",
    "日喀则": "Shigatse",
    "昌都": "Chamdo",
    "林芝": "Nyingchi",
    "那曲": "Nagqu",
    "阿里": "Ngari",
    "果洛": "Golog",
    "阿坝": "Ngawa",
    "甘孜": "Garze",
    "迪庆": "Diqing",
}

# Other English spellings seen in sources or in common use: (short_zh, spelling).
ENGLISH_VARIANTS = [
    ("吕梁", "Lüliang"),
    ("吕梁", "Lvliang"),
    ("日喀则", "Xigaze"),
    ("日喀则", "Rikaze"),
    ("昌都", "Qamdo"),
    ("山南", "Lhoka"),
    ("林芝", "Linzhi"),
    ("那曲", "Naqu"),
    ("阿坝", "Aba"),
    ("甘孜", "Ganzi"),
    ("喀什", "Kashi"),
    ("和田", "Hetian"),
    ("伊犁", "Yili"),
    ("哈密", "Kumul"),
    ("呼和浩特", "Huhehaote"),
    ("乌鲁木齐", "Wulumuqi"),
    ("鄂尔多斯", "Eerduosi"),
    ("呼伦贝尔", "Hulunbeier"),
    ("乌兰察布", "Wulanchabu"),
    ("巴彦淖尔", "Bayannaoer"),
    ("兴安", "Xing'an"),
    ("锡林郭勒", "Xilinguole"),
    ("阿拉善", "Alashan"),
    ("哈尔滨", "Haerbin"),
    ("齐齐哈尔", "Qiqihaer"),
    ("克拉玛依", "Kelamayi"),
    ("阿勒泰", "Aletai"),
    ("巴音郭楞", "Bayinguoleng"),
    ("博尔塔拉", "Boertala"),
    ("克孜勒苏", "Kezilesu"),
    ("果洛", "Guoluo"),
    ("果洛", "Golok"),
    ("阿里", "Ali"),
    ("伊犁", "Ili Kazak"),
    ("兴安", "Xing'an Meng"),
    ("襄阳", "Xiangfan"),
    ("普洱", "Simao"),
    ("淮安", "Huaiyin"),
]

# Customary abbreviations of autonomous prefectures: (alias, short_zh).
CHINESE_ABBREVIATIONS = [
    ("博州", "博尔塔拉"),
    ("克州", "克孜勒苏"),
    ("巴州", "巴音郭楞"),
]

ETHNIC_SUFFIXES = [
    "朝鲜族", "土家族", "苗族", "藏族", "羌族", "彝族", "回族", "蒙古族", "蒙古",
    "哈萨克", "柯尔克孜", "白族", "傣族", "景颇族", "傈僳族", "哈尼族", "壮族",
    "布依族", "侗族", "黎族",
]  # fmt: skip
GENERIC_SUFFIXES = ["自治州", "自治县", "地区", "林区", "盟", "市", "县"]


def short_name(full_name: str) -> str:
    """Return the name without its generic suffix and ethnic qualifiers.

    `延边朝鲜族自治州` -> `延边`, `保亭黎族苗族自治县` -> `保亭`, `长沙市` -> `长沙`.
    """
    name = full_name
    for suffix in GENERIC_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
            break
    stripped = True
    while stripped:
        stripped = False
        for ethnic in ETHNIC_SUFFIXES:
            if name.endswith(ethnic) and len(name) > len(ethnic) + 1:
                name = name[: -len(ethnic)]
                stripped = True
    return name


def pinyin_name(short_zh: str) -> str:
    """Return the ASCII pinyin place name, with ü written u (吕梁 -> Luliang).

    An apostrophe goes before a syllable that starts with a, o or e, unless it is
    the first one (西安 -> Xi'an, 马鞍山 -> Ma'anshan).
    """
    syllables = [
        syllable.replace("ü", "u") for syllable in lazy_pinyin(short_zh, v_to_u=True)
    ]
    text = syllables[0]
    for syllable in syllables[1:]:
        text += ("'" if syllable[:1] in {"a", "o", "e"} else "") + syllable
    return text[:1].upper() + text[1:]


def english_name(short_zh: str) -> str:
    """Return the curated English name, else the pinyin of the short name."""
    return ENGLISH_OVERRIDES.get(short_zh) or pinyin_name(short_zh)


def level_of(code: str, name_zh: str) -> str:
    """Return the level of a current prefecture-level unit from its code and name."""
    if code in MUNICIPALITY_CODES:
        return "municipality"
    if code in SUB_PROVINCIAL_CODES:
        return "sub-provincial"
    if name_zh.endswith(("地区", "盟", "自治州")):
        return "prefecture-level region"
    return "prefecture"


def read_codes(source_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read the three modood code tables as text."""
    folder = source_dir / "admin_codes"
    provinces = pd.read_csv(folder / "modood_provinces.csv", dtype=str)
    cities = pd.read_csv(folder / "modood_cities.csv", dtype=str)
    areas = pd.read_csv(folder / "modood_areas.csv", dtype=str)
    return provinces, cities, areas


def build_provinces(modood_provinces: pd.DataFrame) -> pd.DataFrame:
    """Build provinces.csv: codes and Chinese names from NBS, English curated."""
    frame = pd.DataFrame(
        {
            "province_code": modood_provinces["code"] + "0000",
            "name_zh": modood_provinces["name"],
        }
    )
    frame["short_zh"] = frame["name_zh"].str.replace(
        r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区)$", "", regex=True
    )
    english = modood_provinces["code"].map(PROVINCE_ENGLISH)
    missing = modood_provinces.loc[english.isna(), "code"].tolist()
    if missing:
        raise ValueError(
            f"modood_provinces.csv has province codes {missing} without an entry in "
            "PROVINCE_ENGLISH; add their English names to build_reference.py"
        )
    columns = ["name_en", "name_en_full", "name_en_gadm", "iso_3166_2"]
    frame[columns] = pd.DataFrame(english.tolist(), index=frame.index)
    return frame


def build_current_units(
    modood_cities: pd.DataFrame, modood_areas: pd.DataFrame
) -> pd.DataFrame:
    """Build the rows of current units: prefectures, municipalities, county groups."""
    prefectures = modood_cities[
        ~modood_cities["code"].isin(PSEUDO_CITY_CODES | COUNTY_GROUP_CODES)
    ]
    prefecture_rows = pd.DataFrame(
        {
            "city_code": prefectures["code"] + "00",
            "name_zh": prefectures["name"],
            "province_code": prefectures["provinceCode"] + "0000",
        }
    )
    prefecture_rows["level"] = [
        level_of(code, name)
        for code, name in zip(
            prefecture_rows["city_code"], prefecture_rows["name_zh"], strict=True
        )
    ]

    municipality_codes = sorted(
        modood_cities.loc[
            modood_cities["code"].isin(PSEUDO_CITY_CODES), "provinceCode"
        ].unique()
    )
    municipality_rows = pd.DataFrame(
        {
            "city_code": [code + "0000" for code in municipality_codes],
            "province_code": [code + "0000" for code in municipality_codes],
            "level": "municipality",
        }
    )

    counties = modood_areas[modood_areas["cityCode"].isin(COUNTY_GROUP_CODES)]
    county_rows = pd.DataFrame(
        {
            "city_code": counties["code"],
            "name_zh": counties["name"],
            "province_code": counties["provinceCode"] + "0000",
            "level": "county-level",
        }
    )
    return pd.concat(
        [municipality_rows, prefecture_rows, county_rows], ignore_index=True
    )


def apply_boundary_changes(cities: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Fill valid_from, valid_to and successor_code from the boundary changes."""
    cities = cities.copy()
    ended = changes[changes["kind"].isin({"merge", "split", "code_change", "abolish"})]
    valid_to = ended.groupby("from_code")["year"].min()
    successor = (
        ended[ended["kind"].isin({"merge", "code_change"})]
        .drop_duplicates("from_code")
        .set_index("from_code")["to_code"]
    )
    started = changes[changes["kind"].isin({"new", "code_change"})]
    valid_from = started.groupby("to_code")["year"].max()

    cities["valid_from"] = cities["city_code"].map(valid_from).fillna("")
    cities["valid_to"] = cities["city_code"].map(valid_to).fillna("")
    cities["successor_code"] = cities["city_code"].map(successor).fillna("")
    return cities


def read_ceads_names(source_dir: Path) -> list[str]:
    """Return the city strings of the CEADs `emission matrix` sheet, column A."""
    matrix = pd.read_excel(
        source_dir / CEADS_CITY_WORKBOOK,
        sheet_name="emission matrix",
        engine="calamine",
        usecols=[0],
        dtype=str,
    )
    return matrix.iloc[:, 0].str.strip().dropna().tolist()


def ceads_candidates(cities: pd.DataFrame, recoded: set[str]) -> pd.DataFrame:
    """Return (key, city_code, province_code) rows a CEADs city part can match.

    Keys are the short name, the short name plus 州 and the full name without 市.
    Old codes of recoded units are left out because their names point at the new
    code, and so are keys of abolished units that a current unit also uses.
    """
    units = cities[~cities["city_code"].isin(recoded)]
    keys = pd.concat(
        [
            units.assign(key=units["short_zh"]),
            units.assign(key=units["short_zh"] + "州"),
            units.assign(key=units["name_zh"].str.replace("市$", "", regex=True)),
        ]
    ).drop_duplicates(["key", "city_code"])
    abolished = keys["valid_to"] != ""
    clash = abolished & keys["key"].isin(keys.loc[~abolished, "key"])
    return keys.loc[~clash, ["key", "city_code", "province_code"]]


def match_ceads_names(
    names: list[str],
    cities: pd.DataFrame,
    provinces: pd.DataFrame,
    recoded: set[str],
) -> pd.DataFrame:
    """Map CEADs strings (`安徽安庆`, `北京`, `湖北恩施州`) to city codes.

    A string is a province short name followed by the city part, and a
    municipality is its short name alone. `新疆伊犁州直属县` (the counties administered
    directly by the Ili prefecture) maps to 654000, which in the NBS codes
    covers exactly those counties, because 塔城 and 阿勒泰 have codes of their own.
    """
    province_short = dict(
        zip(provinces["short_zh"], provinces["province_code"], strict=True)
    )
    pattern = "^(" + "|".join(sorted(province_short, key=len, reverse=True)) + ")"

    frame = pd.DataFrame({"alias": names})
    prefix = frame["alias"].str.extract(pattern, expand=False).fillna("")
    frame["province_code"] = prefix.map(province_short)
    frame["key"] = [
        alias[len(start) :] or start
        for alias, start in zip(frame["alias"], prefix, strict=True)
    ]
    frame.loc[frame["alias"] == "新疆伊犁州直属县", "key"] = "伊犁"

    matched = frame.merge(
        ceads_candidates(cities, recoded),
        on=["key", "province_code"],
        how="left",
    )
    unmatched = matched.loc[matched["city_code"].isna(), "alias"].tolist()
    if unmatched:
        raise ValueError(
            f"CEADs city strings {unmatched} in sheet 'emission matrix' match no "
            "unit of cities.csv; add the unit to HISTORICAL_UNITS or FORMER_NAMES"
        )
    duplicated = matched.loc[matched["alias"].duplicated(), "alias"].tolist()
    if duplicated:
        raise ValueError(f"CEADs city strings {duplicated} match several units")
    return matched[["alias", "city_code"]]


def name_aliases(cities: pd.DataFrame, recoded: set[str]) -> pd.DataFrame:
    """Return the full, short, 州-variant and English names of every unit.

    Names of a recoded old unit (铜仁地区) point at today's code, so a name never
    resolves to a code that the code path would remap. Names of abolished units
    (巢湖市) keep the old code and have the kind `historical`.
    """
    is_recoded = cities["city_code"].isin(recoded)
    target = cities["city_code"].where(~is_recoded, cities["successor_code"])
    is_historical = cities["valid_to"] != ""
    autonomous = cities["name_zh"].str.endswith("自治州")

    kind_of_name = pd.Series("full", index=cities.index).mask(
        is_historical, "historical"
    )
    frames = [
        (cities["name_zh"], kind_of_name),
        (cities["short_zh"], kind_of_name.replace("full", "short")),
        (cities["name_en"], pd.Series("english", index=cities.index)),
        (
            (cities["short_zh"] + "州")[autonomous],
            pd.Series("variant", index=cities.index)[autonomous],
        ),
    ]
    return pd.concat(
        [
            pd.DataFrame(
                {"alias": alias, "city_code": target[alias.index], "kind": kind}
            )
            for alias, kind in frames
        ]
    )


def extra_aliases(cities: pd.DataFrame) -> pd.DataFrame:
    """Return former names, abbreviations and English variants of current units."""
    former = pd.DataFrame(FORMER_NAMES, columns=["city_code", "alias"])
    former_short = former.assign(alias=former["alias"].map(short_name))
    current = cities[cities["valid_to"] == ""]
    code_by_short = dict(zip(current["short_zh"], current["city_code"], strict=True))
    english = pd.DataFrame(ENGLISH_VARIANTS, columns=["short_zh", "alias"])
    chinese = pd.DataFrame(CHINESE_ABBREVIATIONS, columns=["alias", "short_zh"])
    autonomous = current[current["name_zh"].str.endswith("自治州")]
    without_zizhi = autonomous["name_zh"].str.replace("自治州$", "州", regex=True)
    return pd.concat(
        [
            former.assign(kind="historical"),
            former_short.assign(kind="historical"),
            english.assign(
                city_code=english["short_zh"].map(code_by_short), kind="english"
            ),
            chinese.assign(
                city_code=chinese["short_zh"].map(code_by_short), kind="variant"
            ),
            pd.DataFrame(
                {
                    "alias": without_zizhi,
                    "city_code": autonomous["city_code"],
                    "kind": "variant",
                }
            ),
        ]
    )[["alias", "city_code", "kind"]]


def build_aliases(
    cities: pd.DataFrame, ceads: pd.DataFrame, recoded: set[str]
) -> pd.DataFrame:
    """Build aliases.csv: every name form that maps to a unit of cities.csv."""
    aliases = pd.concat(
        [
            name_aliases(cities, recoded),
            extra_aliases(cities),
            ceads.assign(kind="ceads"),
        ],
        ignore_index=True,
    ).drop_duplicates(["alias", "city_code"])
    missing = aliases.loc[aliases["city_code"].isna(), "alias"].tolist()
    if missing:
        raise ValueError(f"aliases {missing} have no unit in cities.csv")

    # An abolished unit loses any alias that a current unit also uses (伊犁, Ili).
    abolished = set(cities.loc[cities["valid_to"] != "", "city_code"]) - recoded
    on_current = aliases.loc[~aliases["city_code"].isin(abolished), "alias"]
    clash = aliases["city_code"].isin(abolished) & aliases["alias"].isin(on_current)
    aliases = aliases[~clash]

    province_of = cities.set_index("city_code")["province_code"]
    shared = aliases.groupby("alias")["city_code"].transform("nunique") > 1
    aliases = aliases.assign(
        province_code=aliases["city_code"].map(province_of).where(shared, "")
    )
    return aliases[["alias", "province_code", "city_code", "kind"]].sort_values(
        ["city_code", "kind", "alias"], ignore_index=True
    )


def build(source_dir: Path, output_dir: Path = MODULE_DIR) -> None:
    """Build and write provinces.csv, cities.csv and aliases.csv."""
    modood_provinces, modood_cities, modood_areas = read_codes(source_dir)
    changes = pd.read_csv(
        output_dir / "boundary_changes.csv", dtype=str, keep_default_na=False
    )
    recoded = set(changes.loc[changes["kind"] == "code_change", "from_code"])

    provinces = build_provinces(modood_provinces)
    cities = build_cities(modood_cities, modood_areas, provinces, changes)
    ceads = match_ceads_names(read_ceads_names(source_dir), cities, provinces, recoded)
    aliases = build_aliases(cities, ceads, recoded)

    provinces.to_csv(output_dir / "provinces.csv", index=False)
    cities.to_csv(output_dir / "cities.csv", index=False)
    aliases.to_csv(output_dir / "aliases.csv", index=False)
    logger.info(
        "wrote %d provinces, %d cities and %d aliases to %s",
        len(provinces),
        len(cities),
        len(aliases),
        output_dir,
    )


def build_cities(
    modood_cities: pd.DataFrame,
    modood_areas: pd.DataFrame,
    provinces: pd.DataFrame,
    changes: pd.DataFrame,
) -> pd.DataFrame:
    """Build cities.csv: current units from NBS plus the curated historical ones."""
    current = build_current_units(modood_cities, modood_areas)
    province_names = provinces.set_index("province_code")["name_zh"]
    current["name_zh"] = current["name_zh"].fillna(
        current["city_code"].map(province_names)
    )
    current["short_zh"] = current["name_zh"].map(short_name)
    current["name_en"] = current["short_zh"].map(english_name)

    historical = HISTORICAL_UNITS.assign(
        province_code=HISTORICAL_UNITS["city_code"].str[:2] + "0000"
    )
    cities = pd.concat([current, historical], ignore_index=True)
    cities = apply_boundary_changes(cities, changes)
    duplicated = cities.loc[cities["city_code"].duplicated(), "city_code"].tolist()
    if duplicated:
        raise ValueError(
            f"codes {duplicated} are both current NBS codes and in HISTORICAL_UNITS, "
            "so remove them from HISTORICAL_UNITS"
        )
    return cities[CITY_COLUMNS].sort_values("city_code", ignore_index=True)


def default_source_dir() -> Path:
    """Return $CCNI_SOURCE_MIRROR, else ../shared/data/real next to the project."""
    configured = os.environ.get("CCNI_SOURCE_MIRROR")
    if configured:
        return Path(configured)
    return MODULE_DIR.parents[2] / "shared" / "data" / "real"


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else default_source_dir())
