"""Reader of the China City Statistical Yearbook (中国城市统计年鉴) volumes.

Each volume (source ids `ccsy_<YYYY>`, `YYYY` = edition year) is one sheet with
cities in rows and 120-255 indicators in columns under a header block of 3-6 rows
built from merged cells. The columns move between volumes, so which column contains
which variable is data, not code: one reviewed column map per volume in
`yearbook_maps/ccsy_<YYYY>.csv`. A new volume needs a new map only.

Column maps are CSV files with the columns of `MAP_COLUMNS`:

- `header_path`: the column's header texts from the top header row down, joined
  with " | ", as `header_paths` returns them (whitespace runs collapsed to one
  space). A path that occurs n times in a volume is listed n times, in sheet
  order, and matched by order of occurrence.
- `column_letter`: where the reviewer found the column; the reader finds columns
  by `header_path` and only logs a warning when the letter differs.
- `variable`: base variable name from `VARIABLE_UNITS`, or empty for a column the
  pipeline does not read. Every column of the volume is listed, so that
  `header_drift` can tell a new column from one that is deliberately not read.
- `unit`: canonical unit of `variable`, as in `VARIABLE_UNITS`.
- `scale_factor`: multiply the cell by it to get the canonical unit (10000 for a
  column in 亿元 mapped to a 万元 variable).
- `scope`: `whole_city` (全市, counties included) or `districts` (市辖区).
- `note` (optional): a reviewer's remark, e.g. why a scope without a 全市/市辖区
  label was chosen.

The output variable is `<variable>_<scope>`, e.g.
`electricity_total_10k_kwh_districts`.

Layout rules the reader relies on (checked on the editions 2001-2021):

- Column A contains the row labels. The header block is every row above the first
  row labelled 城市合计 (editions up to 2016) or 北京市 (from 2017). A title cell
  such as `中国2016年地级以上城市数据` in that block names the data year, which is
  the edition year minus 1. A volume whose title names another year is rejected.
- A header cell covered by a merged range takes the text of the range's top-left
  cell. An empty cell outside merged ranges adds nothing to the path, so a column
  is never labelled with the text of the column to its left.
- The 城市合计 row is the national total: its candidate cells are rejected as
  "national total row". A row labelled ...省 or ...自治区 (also the misspelling
  自冶区) is a province row. Up to the 2016 edition province rows contain
  subtotals, and all their mapped cells are rejected as "province subtotal row".
  From 2017 they are empty headings and are skipped: a province row is skipped
  when none of its mapped cells has a value. A body cell hidden under a merged
  range is rejected too.
- Text with digits split by a space (`'107284 536966'`) is rejected: the yearbook
  does not group digits, so such text is two numbers run together by OCR.
- `province_name` is the last province row above a city. The municipalities
  北京市, 天津市, 上海市 and 重庆市 are their own province.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from python_calamine import CalamineWorkbook

from ccni_pipeline.sources.base import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    ReadResult,
    SourceFile,
    SourceFormatError,
    add_row_ids,
    column_letter,
    reading,
)
from ccni_pipeline.sources.cells import cell_text, parse_numeric
from ccni_pipeline.sources.manifest import load_manifest

logger = logging.getLogger(__name__)

FAMILY = "ccsy"
MAPS_DIR = Path(__file__).with_name("yearbook_maps")
MAP_COLUMNS = [
    "header_path",
    "column_letter",
    "variable",
    "unit",
    "scale_factor",
    "scope",
]
OPTIONAL_MAP_COLUMNS = ["note"]
SCOPES = ("whole_city", "districts")

# Base variable name -> canonical unit.
VARIABLE_UNITS = {
    "electricity_total_10k_kwh": "10k kWh",
    "electricity_industrial_10k_kwh": "10k kWh",
    "buses_operating": "vehicles",
    "buses_per_10k_residents": "vehicles per 10k residents",
    "budget_expenditure_10k_yuan": "10k yuan",
    "gdp_10k_yuan": "10k yuan",
    "population_registered_10k": "10k persons",
    "population_resident_10k": "10k persons",
}

PATH_SEPARATOR = " | "
NATIONAL_TOTAL_LABEL = "城市合计"
MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})

_LABEL_COLUMN = "A"
_FIRST_DATA_LABELS = (NATIONAL_TOTAL_LABEL, "北京市")
_PROVINCE_PATTERN = r"(?:省|自治区|自冶区)$"
_NUMBERING_PATTERN = r"^\d+\s*[.．、]\s*"
_TITLE_YEAR_PATTERN = re.compile(r"中国\s*(\d{4})\s*年")
_SOURCE_ID_PATTERN = re.compile(rf"{FAMILY}_(\d{{4}})")
_WHITESPACE_PATTERN = r"\s+"
_SPLIT_DIGITS_PATTERN = r"\d\s+\d"
_MAP_ADVICE = (
    "restore it from version control, or rewrite it as the module docstring of "
    "ccni_pipeline.sources.yearbook describes"
)


@dataclass(frozen=True)
class _Sheet:
    """One volume's sheet as the reader needs it.

    Attributes:
        name: Sheet name.
        cells: Stored cell values, indexed by 1-based sheet row, columns by letter.
        header_rows: Number of rows in the header block (rows 1 to header_rows).
        merged: Merged ranges as 1-based (first_row, first_col, last_row, last_col).
    """

    name: str
    cells: pd.DataFrame
    header_rows: int
    merged: tuple[tuple[int, int, int, int], ...]


# --- public API ------------------------------------------------------------------


def yearbook_source_ids(manifest_path: Path | None = None) -> list[str]:
    """Return the manifest ids of the yearbook volumes, oldest edition first.

    Args:
        manifest_path: Manifest file; None reads the default manifest.
    """
    entries = load_manifest(manifest_path)
    ids = [entry.source_id for entry in entries.values() if entry.family == FAMILY]
    return sorted(ids, key=volume_year)


def volume_year(source_id: str) -> int:
    """Return the edition year of a volume id, e.g. 2017 for `ccsy_2017`.

    The data in that volume are for the year before (2016).

    Raises:
        ValueError: The id is not of the form `ccsy_<YYYY>`.
    """
    match = _SOURCE_ID_PATTERN.fullmatch(source_id)
    if match is None:
        raise ValueError(
            f"invalid yearbook source id {source_id!r}: expected "
            f"'{FAMILY}_<edition year>', e.g. '{FAMILY}_2017'"
        )
    return int(match.group(1))


def map_path_for(source_id: str) -> Path:
    """Return the path of a volume's column map in `MAPS_DIR`."""
    return MAPS_DIR / f"{source_id}.csv"


def header_paths(path: Path) -> pd.DataFrame:
    """Return the header path of every column of a volume that has a header.

    Args:
        path: The volume's workbook.

    Returns:
        Columns `column_letter` and `header_path`, in sheet order. Columns whose
        header cells are all empty are left out.

    Raises:
        SourceFormatError: The workbook cannot be opened or no first data row
            (城市合计 or 北京市 in column A) is found.
    """
    return _header_paths(_load_sheet(path))


def load_column_map(map_path: Path) -> pd.DataFrame:
    """Load and validate a column map.

    Args:
        map_path: The CSV file, see the module docstring for its columns.

    Returns:
        The map in file order, `scale_factor` as float (NaN on unmapped rows).

    Raises:
        SourceFormatError: A column is missing, or a row has an unknown variable,
            a unit that is not the variable's canonical unit, an invalid scale
            factor or scope, or repeats a variable and scope of an earlier row.
    """
    with reading(map_path, "column map CSV", advice=_MAP_ADVICE):
        column_map = pd.read_csv(map_path, dtype=str, keep_default_na=False)
    missing = [column for column in MAP_COLUMNS if column not in column_map]
    if missing:
        raise SourceFormatError(
            f"column map {map_path}: missing columns {missing}; a map needs the "
            f"columns {MAP_COLUMNS}"
        )
    column_map = column_map[
        [*MAP_COLUMNS, *[c for c in OPTIONAL_MAP_COLUMNS if c in column_map]]
    ]
    for column in column_map:
        column_map[column] = column_map[column].str.strip()

    problems = _map_problems(column_map)
    if problems:
        listed = "; ".join(problems[:10])
        raise SourceFormatError(
            f"column map {map_path}: {len(problems)} invalid rows: {listed}. "
            f"Fix these rows; variables and units are listed in "
            "ccni_pipeline.sources.yearbook.VARIABLE_UNITS"
        )
    column_map["scale_factor"] = pd.to_numeric(
        column_map["scale_factor"].replace("", np.nan)
    )
    return column_map


def header_drift(path: Path, map_path: Path) -> pd.DataFrame:
    """Compare the header paths of a volume with its column map.

    Args:
        path: The volume's workbook.
        map_path: Its column map.

    Returns:
        Columns `header_path`, `column_letter` and `status`: "unmapped" for a
        column of the volume that the map does not list (letter in the volume),
        "missing" for a map row whose header path the volume does not have
        (letter from the map). Empty when volume and map agree.
    """
    found = _with_occurrence(header_paths(path))
    listed = _with_occurrence(load_column_map(map_path))
    keys = ["header_path", "occurrence"]
    merged = found.merge(
        listed[[*keys, "column_letter"]],
        on=keys,
        how="outer",
        suffixes=("_found", "_listed"),
        indicator=True,
    )
    unmapped = merged.loc[merged["_merge"] == "left_only"].assign(
        column_letter=lambda frame: frame["column_letter_found"], status="unmapped"
    )
    missing = merged.loc[merged["_merge"] == "right_only"].assign(
        column_letter=lambda frame: frame["column_letter_listed"], status="missing"
    )
    columns = ["header_path", "column_letter", "status"]
    drift = pd.concat([unmapped[columns], missing[columns]], ignore_index=True)
    return drift.astype(str)


def read_yearbook(source: SourceFile, map_path: Path | None = None) -> ReadResult:
    """Read the mapped columns of one yearbook volume into the raw long frame.

    Args:
        source: The delivered workbook; `source_id` must be `ccsy_<YYYY>`.
        map_path: Column map; None reads `yearbook_maps/<source_id>.csv`.

    Returns:
        One kept row per parsed value cell of a city row in a mapped column, with
        `year` = edition year - 1, and one rejected row per other candidate cell
        (empty or missing markers, national total and province subtotal rows).

    Raises:
        SourceFormatError: The map file is missing or invalid, a mapped header
            path is not in the volume, or the title names an unexpected data year.
    """
    map_path = map_path or map_path_for(source.source_id)
    if not map_path.is_file():
        raise SourceFormatError(
            f"no column map for {source.source_id} ({source.path.name}): write "
            f"{map_path} with the columns {MAP_COLUMNS}. Start from the output of "
            "ccni_pipeline.sources.yearbook.header_paths(<volume path>) and fill "
            "in variable, unit, scale_factor and scope of the columns to read."
        )
    data_year = volume_year(source.source_id) - 1
    sheet = _load_sheet(source.path)
    _check_title_year(sheet, data_year, source)

    column_map = load_column_map(map_path)
    paths = _header_paths(sheet)
    _log_unlisted_paths(paths, column_map, source)
    columns = _mapped_columns(paths, column_map, source, sheet.name)
    body = sheet.cells.loc[sheet.cells.index > sheet.header_rows]
    values = body[columns["column_letter"].tolist()]
    entities = _row_entities(body, values)

    long = _melt_values(values, columns, entities)
    long["reason"] = _hidden_cell_reasons(long, sheet.merged)
    kept, rejected = _split_parsed(long)
    kept["year"] = data_year
    rejected["year"] = data_year

    result = ReadResult(
        kept=_finish(kept, RAW_COLUMNS, source, sheet.name),
        rejected=_finish(rejected, REJECTED_COLUMNS, source, sheet.name),
    )
    logger.info(
        "read %s (%s, data year %d): %d mapped columns, %d cells kept, %d rejected",
        source.path.name,
        source.source_id,
        data_year,
        len(columns),
        len(result.kept),
        len(result.rejected),
    )
    return result


# --- sheet and header block --------------------------------------------------------


def _load_sheet(path: Path) -> _Sheet:
    """Load the first sheet of a volume with its merged ranges and header size."""
    with reading(path, "xlsx workbook"):
        workbook = CalamineWorkbook.from_path(str(path))
        # NOTE: every volume up to 2021 has one sheet. A volume with more sheets
        # would need the sheet name in its map, which the map format does not have.
        name = workbook.sheet_names[0]
        if len(workbook.sheet_names) > 1:
            logger.warning(
                "%s: reading sheet %r only, ignoring %s",
                path.name,
                name,
                workbook.sheet_names[1:],
            )

        sheet = workbook.get_sheet_by_name(name)
        # Without skip_empty_area the first row and column are sheet row 1 and A.
        rows = sheet.to_python(skip_empty_area=False)
        merged = tuple(
            (first[0] + 1, first[1] + 1, last[0] + 1, last[1] + 1)
            for first, last in sheet.merged_cell_ranges or []
        )

    width = max([len(row) for row in rows] + [span[3] for span in merged] + [1])
    cells = pd.DataFrame(rows, dtype=object).fillna("")
    cells = cells.reindex(columns=range(width), fill_value="")
    cells.index = pd.RangeIndex(1, len(cells) + 1, name="row_number")
    cells.columns = [column_letter(index + 1) for index in range(width)]
    return _Sheet(name, cells, _header_row_count(cells, path, name), merged)


def _normalise(texts: pd.Series) -> pd.Series:
    """Collapse whitespace runs (newlines, NBSP, ideographic space) and strip."""
    return (
        texts.map(cell_text)
        .str.replace(_WHITESPACE_PATTERN, " ", regex=True)
        .str.strip()
    )


def _row_labels(cells: pd.DataFrame) -> pd.Series:
    """Return the normalised column A labels without list numbering (`1.北京市`)."""
    labels = _normalise(cells[_LABEL_COLUMN])
    return labels.str.replace(_NUMBERING_PATTERN, "", regex=True)


def _header_row_count(cells: pd.DataFrame, path: Path, sheet: str) -> int:
    """Return the number of rows above the first data row."""
    labels = _row_labels(cells)
    first = labels.index[labels.isin(_FIRST_DATA_LABELS)]
    if len(first) == 0:
        raise SourceFormatError(
            f"{path.name}, sheet {sheet!r}: no first data row found; expected a "
            f"row labelled {' or '.join(_FIRST_DATA_LABELS)} in column "
            f"{_LABEL_COLUMN}. Check that the file is a prefecture-level volume "
            "of the China City Statistical Yearbook."
        )
    return int(first[0]) - 1


def _header_grid(sheet: _Sheet) -> pd.DataFrame:
    """Return the normalised header block with merged cells expanded."""
    grid = sheet.cells.loc[: sheet.header_rows].apply(_normalise)
    values = grid.to_numpy(dtype=object)
    for first_row, first_col, last_row, last_col in sheet.merged:
        if first_row > sheet.header_rows:
            continue
        last_row = min(last_row, sheet.header_rows)
        top_left = values[first_row - 1, first_col - 1]
        values[first_row - 1 : last_row, first_col - 1 : last_col] = top_left
    return pd.DataFrame(values, index=grid.index, columns=grid.columns)


def _header_paths(sheet: _Sheet) -> pd.DataFrame:
    """Join each column's header texts top-down into its header path."""
    grid = _header_grid(sheet)
    paths = []
    for letter in grid.columns:
        texts = [text for text in grid[letter] if text]
        # A merged range spanning several header rows repeats its text.
        parts = [text for i, text in enumerate(texts) if i == 0 or texts[i - 1] != text]
        paths.append((letter, PATH_SEPARATOR.join(parts)))
    frame = pd.DataFrame(paths, columns=["column_letter", "header_path"])
    headerless = frame["header_path"] == ""
    _log_headerless_data(sheet, frame.loc[headerless, "column_letter"])
    return frame.loc[~headerless].reset_index(drop=True)


def _log_headerless_data(sheet: _Sheet, letters: pd.Series) -> None:
    """Log columns that hold values below the header block but have no header."""
    body = sheet.cells.loc[sheet.cells.index > sheet.header_rows, letters.tolist()]
    with_data = [
        letter for letter in body.columns if (_normalise(body[letter]) != "").any()
    ]
    if with_data:
        logger.warning(
            "sheet %r: columns %s hold values but have no header; they cannot be "
            "mapped",
            sheet.name,
            with_data,
        )


def _check_title_year(sheet: _Sheet, data_year: int, source: SourceFile) -> None:
    """Reject a volume whose title cell names a data year other than expected."""
    titles = _header_grid(sheet)[_LABEL_COLUMN]
    years = [int(m.group(1)) for t in titles if (m := _TITLE_YEAR_PATTERN.search(t))]
    if not years:
        logger.warning(
            "%s: no title with the data year (中国<YYYY>年...) above the data; "
            "assuming data year %d",
            source.path.name,
            data_year,
        )
        return
    if years[0] != data_year:
        raise SourceFormatError(
            f"{source.path.name}, sheet {sheet.name!r}, column {_LABEL_COLUMN}: the "
            f"title names data year {years[0]}, but {source.source_id} should hold "
            f"data year {data_year} (edition year - 1). Check that the manifest "
            "entry points at the right edition."
        )


# --- column map ------------------------------------------------------------------


def _map_problems(column_map: pd.DataFrame) -> list[str]:
    """Return one message per invalid row of a column map (file row numbers)."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for index, row in column_map.iterrows():
        where = f"row {index + 2} ({row['header_path']!r})"
        if row["header_path"] == "":
            problems.append(f"{where}: empty header_path")
        if row["variable"] == "":
            continue
        problems += [f"{where}: {problem}" for problem in _mapped_row_problems(row)]
        key = (row["variable"], row["scope"])
        if key in seen:
            problems.append(f"{where}: variable {key[0]} {key[1]} mapped twice")
        seen.add(key)
    return problems


def _mapped_row_problems(row: pd.Series) -> list[str]:
    """Return what is wrong with one mapped row of a column map."""
    variable = row["variable"]
    if variable not in VARIABLE_UNITS:
        return [f"unknown variable {variable!r}"]
    problems = []
    if row["unit"] != VARIABLE_UNITS[variable]:
        problems.append(
            f"unit {row['unit']!r}, expected {VARIABLE_UNITS[variable]!r} "
            f"for {variable}"
        )
    scale = pd.to_numeric(row["scale_factor"], errors="coerce")
    if not (np.isfinite(scale) and scale > 0):
        problems.append(f"invalid scale_factor {row['scale_factor']!r}")
    if row["scope"] not in SCOPES:
        problems.append(f"invalid scope {row['scope']!r}, expected one of {SCOPES}")
    return problems


def _with_occurrence(frame: pd.DataFrame) -> pd.DataFrame:
    """Number repeated header paths 0, 1, ... in order, so repeats can be matched."""
    frame = frame.copy()
    frame["occurrence"] = frame.groupby("header_path").cumcount()
    return frame


def _log_unlisted_paths(
    paths: pd.DataFrame, column_map: pd.DataFrame, source: SourceFile
) -> None:
    """Log the volume's columns that the map does not list, which are not read."""
    keys = ["header_path", "occurrence"]
    listed = _with_occurrence(column_map)[keys]
    found = _with_occurrence(paths).merge(listed, on=keys, how="left", indicator=True)
    unlisted = found.loc[found["_merge"] == "left_only"]
    if len(unlisted):
        logger.warning(
            "%s: %d columns not listed in the column map are not read: %s",
            source.path.name,
            len(unlisted),
            ", ".join(
                f"{row.column_letter} {row.header_path!r}"
                for row in unlisted.itertuples()
            ),
        )


def _mapped_columns(
    paths: pd.DataFrame, column_map: pd.DataFrame, source: SourceFile, sheet: str
) -> pd.DataFrame:
    """Find the volume's column of every mapped header path."""
    listed = _with_occurrence(column_map)
    listed = listed.loc[listed["variable"] != ""]
    keys = ["header_path", "occurrence"]
    columns = listed.merge(
        _with_occurrence(paths), on=keys, how="left", suffixes=("_map", "")
    )
    absent = columns.loc[columns["column_letter"].isna()]
    if len(absent):
        raise SourceFormatError(
            f"{source.path.name}, sheet {sheet!r}: mapped header paths not found "
            f"in the volume: {absent['header_path'].tolist()}. Compare the map with "
            "header_drift(<volume path>, <map path>) and correct the header_path "
            "of these rows."
        )
    moved = columns.loc[columns["column_letter"] != columns["column_letter_map"]]
    for row in moved.itertuples():
        logger.warning(
            "%s: header path %r found in column %s, but the map lists column %s; "
            "reading column %s",
            source.path.name,
            row.header_path,
            row.column_letter,
            row.column_letter_map,
            row.column_letter,
        )
    columns["output_variable"] = columns["variable"] + "_" + columns["scope"]
    return columns[
        ["column_letter", "header_path", "output_variable", "unit", "scale_factor"]
    ]


# --- body ------------------------------------------------------------------------


def _row_entities(body: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Return city and province names of the body rows and how each row is read.

    Column `row_reason` is "" for city rows. For other rows it is the reason that
    every candidate cell of the row is rejected with. Column `skip` marks rows
    that are not read: empty rows and province headings without values.
    """
    labels = _row_labels(body)
    has_values = (values.apply(_normalise) != "").any(axis=1)
    is_national = labels == NATIONAL_TOTAL_LABEL
    is_province = labels.str.contains(_PROVINCE_PATTERN, regex=True) & ~is_national
    is_municipality = labels.isin(MUNICIPALITIES)

    provinces = labels.where(is_province).ffill().fillna("")
    provinces = provinces.mask(is_municipality, labels).mask(is_national, "")
    entities = pd.DataFrame(
        {
            "city_name": labels.mask(is_province | is_national, ""),
            "province_name": provinces,
            "source_city_code": "",
            "row_reason": "",
        },
        index=body.index,
    )
    entities.loc[labels == "", "row_reason"] = "no city name"
    entities.loc[is_province, "row_reason"] = "province subtotal row"
    entities.loc[is_national, "row_reason"] = "national total row"
    entities["skip"] = ~has_values & ((labels == "") | is_province)
    return entities


def _melt_values(
    values: pd.DataFrame, columns: pd.DataFrame, entities: pd.DataFrame
) -> pd.DataFrame:
    """Melt the mapped columns of the read rows into one row per candidate cell."""
    read_rows = values.loc[~entities["skip"]]
    long = read_rows.reset_index().melt(
        id_vars="row_number", var_name="column_letter", value_name="cell"
    )
    long = long.sort_values("row_number", kind="stable", ignore_index=True)
    long = long.merge(columns, on="column_letter", how="left", validate="m:1")
    long = long.rename(
        columns={"header_path": "column_header", "output_variable": "variable"}
    )
    long["original_text"] = long["cell"].map(cell_text)
    return long.join(entities.drop(columns="skip"), on="row_number")


def _hidden_cell_reasons(
    long: pd.DataFrame, merged: tuple[tuple[int, int, int, int], ...]
) -> pd.Series:
    """Return a reason for cells hidden under a merged range, else ""."""
    reasons = pd.Series("", index=long.index, dtype="object")
    column_numbers = long["column_letter"].map(_column_number)
    for first_row, first_col, last_row, last_col in merged:
        inside = (
            long["row_number"].between(first_row, last_row)
            & column_numbers.between(first_col, last_col)
            & ~((long["row_number"] == first_row) & (column_numbers == first_col))
        )
        span = (
            f"{column_letter(first_col)}{first_row}:{column_letter(last_col)}{last_row}"
        )
        reasons[inside] = f"cell hidden under merged range {span}"
    return reasons


def _column_number(letter: str) -> int:
    number = 0
    for char in letter:
        number = number * 26 + ord(char) - ord("A") + 1
    return number


def _split_parsed(long: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the cells, scale them to canonical units and split kept from rejected.

    A row-level reason (national total, province subtotal, no city name) wins
    over a hidden-cell reason, which wins over a parse reason.
    """
    values, parse_reasons = parse_numeric(long["cell"])
    # The yearbook has no digit grouping, so digits split by a space are OCR noise
    # such as '107284 536966' (2018, AT85), and the reason names that cause.
    text = long["original_text"].str.strip()
    split_digits = text.str.contains(_SPLIT_DIGITS_PATTERN, regex=True)
    parse_reasons = parse_reasons.mask(
        split_digits,
        "not a number: " + text.map(repr) + " (digits split by a space)",
    )
    reasons = long["reason"].mask(long["reason"] == "", parse_reasons)
    reasons = reasons.mask(long["row_reason"] != "", long["row_reason"])
    long = long.assign(
        value=values * long["scale_factor"].astype("float64"),
        reason=reasons,
        stage="read",
    )
    is_kept = reasons == ""
    return long.loc[is_kept].copy(), long.loc[~is_kept].copy()


def _finish(
    frame: pd.DataFrame, columns: list[str], source: SourceFile, sheet: str
) -> pd.DataFrame:
    """Add the file's provenance and row ids, then set column order and types."""
    frame = frame.assign(
        source_id=source.source_id, file_sha256=source.sha256, sheet=sheet
    )
    frame = add_row_ids(frame.reset_index(drop=True))
    types = {column: "str" for column in columns}
    types.update(row_number="int64", year="int64")
    if "value" in columns:
        frame["value_text"] = ""
        types.update(value="float64")
    return frame[columns].astype(types)
