"""The city crosswalk: city names and codes as the sources write them -> division code.

The one city key of the pipeline is the 6-digit GB/T 2260 division code.
Prefecture codes end in 00 (440300 Shenzhen), and municipalities use their
province code (110000, 120000, 310000, 500000). Province-administered county-level
units (济源, 仙桃, 潜江, 天门, 石河子, Hainan's counties) keep their county code
(419001), so they resolve but can be left out by `level`.

Reference tables next to this module. `build_reference.py` writes the first three
from the NBS code files; `boundary_changes.csv` is curated by hand:

- `provinces.csv`: province_code, name_zh (广东省), short_zh (广东), name_en as in
  the CREA series names (Guangdong, Inner Mongolia, Tibet), name_en_full,
  name_en_gadm (Nei Mongol, Xizang), iso_3166_2 (CN-GD).
- `cities.csv`: one row per code, current and historical. name_en is ASCII and
  names the place without its generic part, also for autonomous prefectures
  (长沙市 Changsha, 延边朝鲜族自治州 Yanbian): the pinyin of the short name with an
  apostrophe before a, o or e syllables (Xi'an, Lu'an) and ü written u (吕梁
  Luliang), or the conventional spelling of names from Mongolian, Uyghur and
  Tibetan (Hohhot, Urumqi, Shigatse). level is one of municipality,
  sub-provincial, prefecture, prefecture-level region (地区, 盟, 自治州) and
  county-level. valid_from is the year the code took effect, empty when that was
  before 2000 or is not recorded; valid_to is the year the unit was abolished or
  recoded; successor_code is the unit that took over its whole territory (merge
  or code change), empty for a split.
- `aliases.csv`: alias, province_code (filled only when several units share the
  alias), city_code, kind (full, short, variant such as 恩施州, ceads such as
  安徽安庆, historical such as 襄樊市, english). Names of a recoded unit (铜仁地区)
  point at today's code; names of an abolished unit (巢湖, 莱芜) keep its code.
- `boundary_changes.csv`: year, kind (merge, split, transfer, rename,
  code_change, new, abolish), from_code, to_code, note. A transfer moves a county
  between two units that both go on.

`resolve_cities` applies these rules to the distinct (name, province, code)
combinations of a raw long frame, so its cost does not grow with the rows:

1. A source code that is a 6-digit code of `cities.csv` wins. An old code that
   only changed (652100 吐鲁番地区 -> 650400 吐鲁番市) maps to the current code;
   a code of an abolished unit (341400 巢湖) stays as it is.
2. Otherwise the name is normalised (NFKC, so full-width forms become half-width,
   no whitespace, case-folded, no apostrophes) and matched against the aliases:
   alias with the row's province, then alias alone if one unit has it. Both
   passes run again with a trailing 市, 地区 or 盟 stripped from both sides, and
   then with a leading province name split off the city name (广东深圳).
"""

import functools
import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

REFERENCE_DIR = Path(__file__).resolve().parent

# The pseudo-cities of the NBS tables for a municipality's districts and counties.
MUNICIPAL_PSEUDO_CODES = {
    "110100": "110000",
    "120100": "120000",
    "310100": "310000",
    "500100": "500000",
    "500200": "500000",
}
TERRITORIAL_KINDS = {"merge", "split", "transfer", "new", "abolish"}
RESOLUTION_COLUMNS = ["city_code", "resolution", "unresolved_reason"]
_ENTITY_COLUMNS = ["city_name", "province_name", "source_city_code"]


@functools.cache
def _read_reference(file_name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / file_name, dtype=str, keep_default_na=False)


def load_provinces() -> pd.DataFrame:
    """Return provinces.csv, every column as text."""
    return _read_reference("provinces.csv").copy()


def load_cities() -> pd.DataFrame:
    """Return cities.csv, every column as text ("" for an empty cell)."""
    return _read_reference("cities.csv").copy()


def load_aliases() -> pd.DataFrame:
    """Return aliases.csv and the misprints of source_typos.csv, as text."""
    return _all_aliases().copy()


@functools.cache
def _all_aliases() -> pd.DataFrame:
    """Return the generated aliases plus the curated misprints seen in sources."""
    typos = _read_reference("source_typos.csv")
    city_typos = typos.loc[
        typos["kind"] == "typo", ["alias", "province_code", "city_code", "kind"]
    ]
    return pd.concat([_read_reference("aliases.csv"), city_typos], ignore_index=True)


def load_boundary_changes() -> pd.DataFrame:
    """Return boundary_changes.csv with `year` as int, the other columns as text."""
    changes = _read_reference("boundary_changes.csv").copy()
    changes["year"] = changes["year"].astype(int)
    return changes


def normalise_names(names: pd.Series) -> pd.Series:
    """Return the match key of each name.

    NFKC turns full-width letters, digits and brackets into half-width ones. The
    key then drops an English generic word (`Jiyuan shi`, `Suzhou City`), all
    whitespace, apostrophes, hyphens and dots, and is case-folded.
    """
    text = names.fillna("").astype(str).str.normalize("NFKC").str.strip()
    text = text.str.casefold()
    text = text.str.replace(r"\s+(city|shi|prefecture|league)$", "", regex=True)
    return text.str.replace(r"[\s'’`\-.·]", "", regex=True)


def strip_generic_suffix(keys: pd.Series) -> pd.Series:
    """Drop a trailing 市, 地区 or 盟 from keys that keep at least two characters."""
    return keys.str.replace(r"(?<=..)(市|地区|盟)$", "", regex=True)


@functools.cache
def _province_lookup() -> dict[str, str]:
    """Map every normalised province form (name, code, ISO code) to its code."""
    provinces = _read_reference("provinces.csv")
    forms = ["name_zh", "short_zh", "name_en", "name_en_full", "name_en_gadm"]
    forms += ["iso_3166_2", "province_code"]
    pairs = pd.concat(
        [
            pd.DataFrame(
                {"form": provinces[column], "code": provinces["province_code"]}
            )
            for column in forms
        ]
        + [
            pd.DataFrame(
                {
                    "form": provinces["province_code"].str[:2],
                    "code": provinces["province_code"],
                }
            )
        ]
    )
    typos = _read_reference("source_typos.csv")
    typos = typos[typos["kind"] == "province_typo"]
    pairs = pd.concat(
        [pairs, pd.DataFrame({"form": typos["alias"], "code": typos["city_code"]})]
    )
    pairs["form"] = normalise_names(pairs["form"])
    return dict(zip(pairs["form"], pairs["code"], strict=True))


def resolve_provinces(names: pd.Series) -> pd.Series:
    """Return the 6-digit province code of each name, None where none matches.

    Accepts Chinese full and short names (广东省, 广东), English names in the
    CREA, full and GADM forms (Guangdong, Inner Mongolia, InnerMongolia, Nei
    Mongol, Beijing Municipality), ISO 3166-2 codes (CN-GD) and the 2- or 6-digit
    province code.
    """
    keys = normalise_names(names).str.replace(r"\.0+$", "", regex=True)
    codes = keys.map(_province_lookup())
    return codes.astype(object).where(codes.notna(), None)


@functools.cache
def _alias_index() -> pd.DataFrame:
    """Return one row per (match key, city): the aliases joined to their city."""
    aliases = _all_aliases()
    cities = _read_reference("cities.csv").set_index("city_code")
    index = pd.DataFrame(
        {
            "key": normalise_names(aliases["alias"]),
            "city_code": aliases["city_code"],
            "city_province": aliases["city_code"].map(cities["province_code"]),
            "historical": aliases["kind"].eq("historical")
            | aliases["city_code"].map(cities["valid_to"]).ne(""),
        }
    )
    index["key_stripped"] = strip_generic_suffix(index["key"])
    # A current name form wins over a historical one for the same city.
    index = index.sort_values("historical", kind="stable")
    return index.drop_duplicates(["key", "city_code"]).reset_index(drop=True)


def _code_changes() -> dict[str, str]:
    """Map each old code that only changed to the code that replaced it."""
    changes = _read_reference("boundary_changes.csv")
    recoded = changes[changes["kind"] == "code_change"]
    return dict(zip(recoded["from_code"], recoded["to_code"], strict=True))


def _resolve_codes(source_codes: pd.Series) -> pd.DataFrame:
    """Resolve source codes. Rows whose code is not in cities.csv get None."""
    cities = _read_reference("cities.csv").set_index("city_code")
    codes = source_codes.str.strip().str.replace(r"\.0+$", "", regex=True)
    codes = codes.replace(MUNICIPAL_PSEUDO_CODES)
    known = codes.isin(cities.index)

    current = codes.copy()
    code_changes = _code_changes()
    for _ in range(len(code_changes)):
        following = current.map(code_changes)
        if following.isna().all():
            break
        current = following.fillna(current)

    resolution = pd.Series("code", index=codes.index, dtype=object)
    resolution[current != codes] = "code_change"
    resolution[codes.map(cities["valid_to"]).fillna("").ne("") & (current == codes)] = (
        "historical_code"
    )
    return pd.DataFrame(
        {
            "city_code": current.where(known, None),
            "resolution": resolution.where(known, None),
        }
    )


def _match(
    pending: pd.DataFrame, key_column: str, alias_key: str, with_province: bool
) -> pd.DataFrame:
    """Return the alias candidates of pending names for one matching pass."""
    index = _alias_index()[[alias_key, "city_code", "city_province", "historical"]]
    candidates = pending.merge(
        index, left_on=key_column, right_on=alias_key, how="inner"
    )
    candidates = candidates[candidates[key_column] != ""]
    if with_province:
        return candidates[candidates["city_province"] == candidates["province_code"]]
    return candidates


def _unique_matches(candidates: pd.DataFrame) -> pd.DataFrame:
    """Keep the candidates of names that match exactly one city."""
    count = candidates.groupby("entity_id")["city_code"].transform("nunique")
    return candidates[count == 1].drop_duplicates("entity_id")


def _split_province_prefix(names: pd.DataFrame) -> pd.DataFrame:
    """Split a leading province name off the key (广东深圳 -> 广东, 深圳)."""
    lookup = _province_lookup()
    chinese = sorted(
        (form for form in lookup if not form.isascii()), key=len, reverse=True
    )
    pattern = "^(" + "|".join(chinese) + ")(.+)$"
    parts = names["key"].str.extract(pattern)
    split = names.assign(
        prefix_province=parts[0].map(lookup), key_rest=parts[1].fillna("")
    )
    split["key_rest_stripped"] = strip_generic_suffix(split["key_rest"])
    keep = split["prefix_province"].notna() & (
        split["province_code"].isna()
        | (split["province_code"] == split["prefix_province"])
    )
    split = split[keep].copy()
    split["province_code"] = split["prefix_province"]
    return split


def _match_names(names: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the matching passes and return (resolved, candidates seen).

    `resolved` has entity_id, city_code, historical, with_province for names that
    one pass matched to exactly one city. `candidates` has every alias candidate
    that some pass found, for the messages on names that stay unresolved.
    """
    split = _split_province_prefix(names)
    passes = [
        (names, "key", "key", True),
        (names, "key", "key", False),
        (names, "key_stripped", "key_stripped", True),
        (names, "key_stripped", "key_stripped", False),
        (split, "key_rest", "key", True),
        (split, "key_rest_stripped", "key_stripped", True),
    ]
    resolved = []
    seen = []
    done: set[int] = set()
    for frame, key_column, alias_key, with_province in passes:
        pending = frame[~frame["entity_id"].isin(done)]
        candidates = _match(pending, key_column, alias_key, with_province)
        if not with_province:
            # A name whose province is known must not resolve to another province.
            seen.append(candidates)
            candidates = candidates[
                candidates["province_code"].isna()
                | (candidates["city_province"] == candidates["province_code"])
            ]
        unique = _unique_matches(candidates).assign(with_province=with_province)
        seen.append(candidates)
        resolved.append(unique)
        done |= set(unique["entity_id"])
    columns = ["entity_id", "city_code", "historical", "with_province"]
    return pd.concat(resolved)[columns], pd.concat(seen)


def _describe_cities(codes: pd.Series) -> pd.Series:
    """Return `220200 吉林省吉林市` for each code."""
    cities = _read_reference("cities.csv").set_index("city_code")
    provinces = _read_reference("provinces.csv").set_index("province_code")
    province_names = codes.map(cities["province_code"]).map(provinces["name_zh"])
    return codes + " " + province_names.fillna("") + codes.map(cities["name_zh"])


def _unresolved_reasons(names: pd.DataFrame, seen: pd.DataFrame) -> pd.Series:
    """Return, for each name, why no single city matched it."""
    seen = seen.drop_duplicates(["entity_id", "city_code"])
    described = seen.assign(city=_describe_cities(seen["city_code"]))
    listed = (
        described.sort_values("city_code").groupby("entity_id")["city"].agg(", ".join)
    )
    counts = described.groupby("entity_id")["city_code"].nunique()
    entity = names.set_index("entity_id")
    quoted_name = "name '" + entity["city_name"] + "'"
    province_known = entity["province_code"].notna()

    reason = quoted_name + " not in the crosswalk"
    unknown_province = ~province_known & entity["province_name"].str.strip().ne("")
    reason[unknown_province] = (
        reason + "; province '" + entity["province_name"] + "' not recognised"
    )
    many = counts.reindex(entity.index).fillna(0) > 1
    reason[many & ~province_known] = (
        quoted_name + " is ambiguous: " + listed + "; give the province"
    )
    elsewhere = counts.reindex(entity.index).fillna(0).ge(1) & province_known
    reason[elsewhere] = (
        quoted_name + " is not in province '" + entity["province_name"] + "': " + listed
    )
    reason[entity["city_name"].str.strip() == ""] = "no city name"
    return reason


def _resolve_names(entities: pd.DataFrame) -> pd.DataFrame:
    """Resolve (city_name, province_name) pairs through the aliases."""
    names = entities[["city_name", "province_name"]].drop_duplicates()
    names = names.reset_index(drop=True).rename_axis("entity_id").reset_index()
    names["province_code"] = resolve_provinces(names["province_name"])
    names["key"] = normalise_names(names["city_name"])
    names["key_stripped"] = strip_generic_suffix(names["key"])

    resolved, seen = _match_names(names)
    resolution = pd.Series("name", index=resolved.index, dtype=object)
    resolution[resolved["with_province"]] = "province+name"
    resolution[resolved["historical"]] = "historical"
    resolved = resolved.assign(resolution=resolution).set_index("entity_id")

    names["city_code"] = names["entity_id"].map(resolved["city_code"])
    names["resolution"] = names["entity_id"].map(resolved["resolution"])
    reasons = _unresolved_reasons(names, seen)
    names["unresolved_reason"] = names["entity_id"].map(reasons)
    names.loc[names["city_code"].notna(), "unresolved_reason"] = ""
    return entities.merge(
        names[["city_name", "province_name", *RESOLUTION_COLUMNS]],
        on=["city_name", "province_name"],
        how="left",
    )


def _entity_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the entity columns as text, "" for a missing optional column."""
    if "city_name" not in frame.columns:
        raise ValueError(
            f"missing column 'city_name' in the frame to resolve (columns: "
            f"{list(frame.columns)}); rename the city-name column to city_name"
        )
    text = pd.DataFrame(index=frame.index)
    for column in _ENTITY_COLUMNS:
        values = frame[column] if column in frame.columns else ""
        text[column] = pd.Series(values, index=frame.index).fillna("").astype(str)
    return text


def resolve_cities(frame: pd.DataFrame) -> pd.DataFrame:
    """Resolve each row's city to a division code.

    Args:
        frame: rows with `city_name` and optionally `province_name`,
            `source_city_code` and `year`, as in the raw long frame.

    Returns:
        A frame on the same index with `city_code` (6-digit text, None when
        unresolved), `resolution` (code, code_change, historical_code, name,
        province+name, historical; None when unresolved) and `unresolved_reason`
        ("" when resolved).
    """
    text = _entity_text(frame)
    entities = text.drop_duplicates().reset_index(drop=True)
    by_name = _resolve_names(entities)
    by_code = _resolve_codes(entities["source_city_code"])

    use_code = by_code["city_code"].notna()
    result = by_name[RESOLUTION_COLUMNS].astype(object)
    result.loc[use_code, ["city_code", "resolution"]] = by_code.loc[
        use_code, ["city_code", "resolution"]
    ]
    result.loc[use_code, "unresolved_reason"] = ""
    _log_code_name_conflicts(entities, by_code, by_name)

    result.index = pd.MultiIndex.from_frame(entities)
    rows = result.reindex(pd.MultiIndex.from_frame(text)).set_axis(frame.index)
    rows["city_code"] = (
        rows["city_code"].astype(object).where(rows["city_code"].notna(), None)
    )
    rows["resolution"] = (
        rows["resolution"].astype(object).where(rows["resolution"].notna(), None)
    )
    _log_summary(rows, frame)
    return rows


def _log_code_name_conflicts(
    entities: pd.DataFrame, by_code: pd.DataFrame, by_name: pd.DataFrame
) -> None:
    """Warn where a source code and its name resolve to different cities."""
    both = by_code["city_code"].notna() & by_name["city_code"].notna()
    conflict = both & (by_code["city_code"] != by_name["city_code"])
    if conflict.any():
        examples = (
            entities.loc[conflict, "city_name"]
            + " ("
            + entities.loc[conflict, "source_city_code"]
            + " vs name "
            + by_name.loc[conflict, "city_code"]
            + ")"
        )
        logger.warning(
            "%d source codes disagree with their city names; the code is used: %s",
            int(conflict.sum()),
            ", ".join(examples.head(5)),
        )


def _log_summary(rows: pd.DataFrame, frame: pd.DataFrame) -> None:
    """Log the resolution counts and the rows dated after their unit ended."""
    counts = rows["resolution"].fillna("unresolved").value_counts()
    logger.info("resolved city names: %s", counts.to_dict())
    unresolved = rows["city_code"].isna()
    if unresolved.any():
        logger.warning(
            "%d rows have no city code, for example: %s",
            int(unresolved.sum()),
            "; ".join(rows.loc[unresolved, "unresolved_reason"].unique()[:5]),
        )
    if "year" not in frame.columns:
        return
    valid_to = rows["city_code"].map(
        _read_reference("cities.csv").set_index("city_code")["valid_to"]
    )
    ended = pd.to_numeric(valid_to, errors="coerce")
    late = pd.to_numeric(frame["year"], errors="coerce") > ended
    if late.any():
        logger.warning(
            "%d rows are dated after their city was abolished, for codes %s",
            int(late.sum()),
            sorted(rows.loc[late, "city_code"].unique()),
        )


def boundary_flags(codes: pd.Series, start_year: int, end_year: int) -> pd.DataFrame:
    """Tell whether each city's territory changed in [start_year, end_year].

    Renames and pure code changes do not count. Merges, splits, county transfers,
    new units and abolitions do, whichever side of the change the city is on.

    NOTE: county transfers between prefectures are recorded only for 枞阳, 寿县
    and 简阳, so `changed` is False for a city that gained or lost another county.

    Returns:
        A frame on the index of `codes` with `city_code`, `changed` (bool) and
        `note` ("absorbed 莱芜 (371200) in 2019"; "" when nothing changed).
    """
    changes = load_boundary_changes()
    changes = changes[
        changes["kind"].isin(TERRITORIAL_KINDS)
        & changes["year"].between(start_year, end_year)
    ]
    short_names = _read_reference("cities.csv").set_index("city_code")["short_zh"]
    positions = pd.DataFrame(
        {"position": range(len(codes)), "city_code": codes.astype(str).to_numpy()}
    )
    positions = positions[positions["city_code"] != ""]
    received = positions.merge(changes, left_on="city_code", right_on="to_code")
    given = positions.merge(changes, left_on="city_code", right_on="from_code")
    received["text"] = _received_text(received, short_names)
    given["text"] = _given_text(given, short_names)

    events = pd.concat([received, given]).sort_values(["position", "year"])
    notes = events.groupby("position")["text"].agg("; ".join)
    note = pd.Series(range(len(codes))).map(notes).astype(object).fillna("")
    return pd.DataFrame(
        {
            "city_code": codes.to_numpy(),
            "changed": note.ne("").to_numpy(),
            "note": note.to_numpy(),
        },
        index=codes.index,
    )


def _received_text(events: pd.DataFrame, short_names: pd.Series) -> pd.Series:
    other = (
        events["from_code"].map(short_names).fillna("")
        + " ("
        + events["from_code"]
        + ")"
    )
    verb = events["kind"].map(
        {
            "merge": "absorbed ",
            "split": "absorbed part of ",
            "transfer": "gained territory from ",
        }
    )
    year = " in " + events["year"].astype(str)
    text = verb + other + year
    return text.where(events["kind"] != "new", "established" + year)


def _given_text(events: pd.DataFrame, short_names: pd.Series) -> pd.Series:
    other = (
        events["to_code"].map(short_names).fillna("") + " (" + events["to_code"] + ")"
    )
    verb = events["kind"].map(
        {
            "merge": "merged into ",
            "split": "abolished, part went to ",
            "transfer": "lost territory to ",
        }
    )
    year = " in " + events["year"].astype(str)
    text = verb + other + year
    return text.where(events["kind"] != "abolish", "abolished" + year)
