"""Readers for the cn_city_panel_gp source family: prefecture-level city panels.

The family is a set of Excel workbooks compiled for a thesis on China's low-carbon
city pilots: EDGAR-based city CO2, nominal GDP and industry structure, real GDP at
2000 prices, resident population, and two lists of low-carbon pilot cities. Each
`read_<source_id>` function turns one workbook into the raw long frame defined in
`ccni_pipeline.sources.base`. The layout of each sheet (header texts, variables,
units) is declared as a `_SheetSpec` in the "sheet specs" section, and `READERS`
maps manifest source ids to readers.

Rules shared by the readers:

- Row 1 is the header row. `row_number` is the sheet row, so `column_letter` and
  `row_number` together give the openpyxl cell address of the value cell.
- A row whose non-empty cells all carry the reseller watermark
  (`更多数据，关注淘宝店【行行文库】` or `https://hhwk.taobao.com`) is rejected as
  "watermark row": one rejected row per non-empty cell of that row, with the
  address and text of that cell and an empty `variable`.
- Empty rows are skipped. Non-empty cells outside the columns a reader reads (a
  stray note, watermark text beside a data row) are ignored and logged.
- City names and codes are kept as written; the city crosswalk resolves them.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import openpyxl
import pandas as pd

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

logger = logging.getLogger(__name__)

_HEADER_ROW = 1
_WATERMARK_PATTERN = r"行行文库|hhwk\.taobao\.com"
_TEXT_ENTITY_COLUMNS = ("city_name", "province_name", "source_city_code")
_STRAY_CELLS_LOGGED = 10


def _tonnes_to_mt(values: pd.Series) -> pd.Series:
    return values / 1e6


def _fraction_to_pct(values: pd.Series) -> pd.Series:
    return values * 100


@dataclass(frozen=True)
class _ValueColumn:
    """One value column of a sheet and the canonical variable it becomes."""

    header: str
    variable: str
    unit: str
    to_unit: Callable[[pd.Series], pd.Series] | None = None


@dataclass(frozen=True)
class _SheetSpec:
    """The layout a reader expects of one sheet.

    Attributes:
        sheet: Sheet name.
        entity_headers: Header text of each entity column that the sheet has, keyed
            by the name in `ENTITY_COLUMNS` ("year", "city_name", ...).
        values: The value columns, in sheet order.
        value_text_header: Header of a column copied to `value_text`, or "".
        year_from_value: Whether `year` is the parsed value itself (pilot lists).
    """

    sheet: str
    entity_headers: dict[str, str]
    values: tuple[_ValueColumn, ...]
    value_text_header: str = ""
    year_from_value: bool = False

    def headers(self) -> list[str]:
        """Return every header the reader needs, entity columns first."""
        headers = [*self.entity_headers.values()]
        headers += [column.header for column in self.values]
        if self.value_text_header:
            headers.append(self.value_text_header)
        return headers


# --- sheet specs -----------------------------------------------------------------

# Cell J4 contains the note '碳排放强度=碳排放总量/GDP'. It lies outside the
# value column G, so it is ignored (and logged as a stray cell), not rejected.
_EDGAR_CITY_CO2 = _SheetSpec(
    sheet="Sheet1",
    entity_headers={
        "year": "年份",
        "source_city_code": "城市代码",
        "province_name": "所属省份",
        "city_name": "城市",
    },
    values=(_ValueColumn("碳排放量_吨", "co2_mt", "Mt CO2", _tonnes_to_mt),),
)

_CITY_GDP_INDUSTRY = _SheetSpec(
    sheet="面板数据2000-2023",
    entity_headers={
        "year": "年度标识",
        "city_name": "城市名称",
        "source_city_code": "城市代码",
        "province_name": "省份名称",
    },
    values=(
        _ValueColumn("gdp（亿元人民币）", "gdp_nominal_100m_yuan", "100m yuan"),
        _ValueColumn(
            "第一产业增加值（亿元人民币）", "va_primary_100m_yuan", "100m yuan"
        ),
        _ValueColumn("第二产业增加值", "va_secondary_100m_yuan", "100m yuan"),
        _ValueColumn("第三产业增加值", "va_tertiary_100m_yuan", "100m yuan"),
        _ValueColumn("第二产业占GDP比重", "secondary_share_pct", "%", _fraction_to_pct),
    ),
)

_CITY_REAL_GDP = _SheetSpec(
    sheet="Sheet1",
    entity_headers={"province_name": "省份", "city_name": "城市", "year": "年份"},
    values=(
        _ValueColumn(
            "GDP指数", "gdp_index_prev_year_100", "index (previous year = 100)"
        ),
        _ValueColumn("实际GDP", "gdp_real_2000_100m_yuan", "100m yuan (2000 prices)"),
        _ValueColumn("GDP平减指数", "gdp_deflator_2000", "index (2000 = 1)"),
    ),
)

_CITY_POPULATION = _SheetSpec(
    sheet="面板数据",
    entity_headers={
        "year": "年份",
        "province_name": "省份",
        "city_name": "城市",
        "source_city_code": "城市代码",
    },
    values=(
        _ValueColumn("常住人口（万人）", "population_resident_10k", "10k persons"),
        _ValueColumn(
            "插值_常住人口（万人）",
            "population_resident_interpolated_10k",
            "10k persons",
        ),
    ),
)

_PILOT_CITIES_92 = _SheetSpec(
    sheet="Sheet1",
    entity_headers={"city_name": "city_name"},
    values=(_ValueColumn("pilot_year", "pilot_year", "year"),),
    value_text_header="batch",
    year_from_value=True,
)

_PILOT_CITIES_135 = _SheetSpec(
    sheet="Sheet1",
    entity_headers={"city_name": "城市名"},
    values=(_ValueColumn("政策实施年", "pilot_year", "year"),),
    value_text_header="批次",
    year_from_value=True,
)


# --- public readers --------------------------------------------------------------


def read_edgar_city_co2(source: SourceFile) -> ReadResult:
    """Read city CO2 emissions (EDGAR v8.0 summed over city areas), 2000-2023.

    `地级市碳排放强度.xlsx`, sheet `Sheet1`: despite the file name the sheet contains
    emissions in tonnes (`碳排放量_吨`), which become `co2_mt` in Mt CO2. The
    sheet `数据说明` is a one-cell note on the data source and is not read.

    Args:
        source: The delivered workbook.

    Returns:
        One kept row per city and year, and the rejected value cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _EDGAR_CITY_CO2)


def read_city_gdp_industry(source: SourceFile) -> ReadResult:
    """Read nominal GDP and value added by sector, 2000-2023.

    `2000-2023地级市产业结构.xlsx`, sheet `面板数据2000-2023`. The sheet `2023`
    repeats the 2023 rows of the panel sheet, so reading it too would duplicate
    them, and the sheet `数据来源` contains only notes on sources and formulas. GDP
    and value-added cells stored as text (`'16737.30'`) are parsed and keep their
    text in `original_text`. The share of the secondary sector is a fraction in
    the file and becomes `secondary_share_pct` in percent.

    NOTE: formula cells are read as the value Excel stored for them. F3961
    (周口市, 2023) is `=3616.99*(1+0.048)`, an extrapolation rather than a
    reported figure, and is kept like any other value.

    Args:
        source: The delivered workbook.

    Returns:
        Kept value cells of the five variables, and the rejected value cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _CITY_GDP_INDUSTRY)


def read_city_real_gdp(source: SourceFile) -> ReadResult:
    """Read real GDP at 2000 prices, the GDP deflator and the GDP index, 2000-2023.

    `296个地级市GDP相关数据（以2000年为基期）.xlsx`, sheet `Sheet1`. Nominal GDP
    (`名义GDP`) is not read because `city_gdp_industry` is the source of nominal
    GDP. The sheet has no city codes, so only names are kept. A data row without
    a city name has its value cells rejected as "no city name". The sheet
    `计算过程-以上海市为例` is a worked example for Shanghai and is not read.

    Args:
        source: The delivered workbook.

    Returns:
        Kept value cells of the three variables, and the rejected value cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _CITY_REAL_GDP)


def read_city_population(source: SourceFile) -> ReadResult:
    """Read resident population as reported and as interpolated, 1998-2024.

    `298个地级市人口密度1998-2024年无缺失.xlsx`, sheet `面板数据`. 1 078 cells of
    `常住人口（万人）` are blank and are rejected as "empty cell". The compiler's
    interpolated series (`插值_常住人口（万人）`) becomes a separate variable, so
    reported and interpolated values stay distinguishable. Land area and density
    are not read, and the sheet `数据说明` contains only notes.

    Args:
        source: The delivered workbook.

    Returns:
        Kept value cells of the two variables, and the rejected value cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _CITY_POPULATION)


def read_pilot_cities_92(source: SourceFile) -> ReadResult:
    """Read the list of 92 city-level low-carbon pilots in three batches.

    `试点城市名单.xlsx`, sheet `Sheet1`. Each city becomes one `pilot_year` row
    whose value and year are the pilot year and whose `value_text` is the batch.
    This list dates the second batch 2013, where `pilot_cities_135` dates it 2012.

    Args:
        source: The delivered workbook.

    Returns:
        One kept row per listed city, and the rejected cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _PILOT_CITIES_92)


def read_pilot_cities_135(source: SourceFile) -> ReadResult:
    """Read the list of 135 pilot cities with provincial pilots expanded.

    `低碳城市试点名单_did-0206.xlsx`, sheet `Sheet1`: the same three batches as
    `pilot_cities_92`, but every prefecture of a pilot province is listed too.
    Each city becomes one `pilot_year` row as in `read_pilot_cities_92`.

    Args:
        source: The delivered workbook.

    Returns:
        One kept row per listed city, and the rejected cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, or
            the sheet or one of its expected headers is missing.
    """
    return _read_sheet(source, _PILOT_CITIES_135)


READERS: dict[str, Callable[[SourceFile], ReadResult]] = {
    "edgar_city_co2": read_edgar_city_co2,
    "city_gdp_industry": read_city_gdp_industry,
    "city_real_gdp": read_city_real_gdp,
    "city_population": read_city_population,
    "pilot_cities_92": read_pilot_cities_92,
    "pilot_cities_135": read_pilot_cities_135,
}


# --- shared steps ----------------------------------------------------------------


def _read_sheet(source: SourceFile, spec: _SheetSpec) -> ReadResult:
    """Read one sheet into kept and rejected frames, following `spec`."""
    cells = _load_cells(source, spec.sheet)
    header_row = _header_texts(cells)
    letters = _header_letters(header_row, source, spec)

    body = cells.loc[cells.index > _HEADER_ROW]
    text = body.map(cell_text)
    non_empty = text.apply(lambda column: column.str.strip() != "")
    watermark = _watermark_rows(text, non_empty)
    data_rows = ~watermark & non_empty[list(letters.values())].any(axis=1)
    _log_stray_cells(non_empty, watermark, data_rows, header_row, source, spec)

    entities = _entities(body.loc[data_rows], text.loc[data_rows], letters, spec)
    long = _value_cells(body.loc[data_rows], letters, spec)
    kept, rejected = _split_parsed(long.join(entities, on="row_number"), spec)
    rejected = pd.concat(
        [rejected, _watermark_rejects(text.loc[watermark], header_row)],
        ignore_index=True,
    )

    result = ReadResult(
        kept=_finish(kept, RAW_COLUMNS, source, spec),
        rejected=_finish(rejected, REJECTED_COLUMNS, source, spec),
    )
    logger.info(
        "read %s sheet %r: %d value cells kept, %d rejected",
        source.path.name,
        spec.sheet,
        len(result.kept),
        len(result.rejected),
    )
    return result


def _load_cells(source: SourceFile, sheet: str) -> pd.DataFrame:
    """Load a sheet as stored values, indexed by sheet row, columns by letter."""
    with reading(source.path, "xlsx workbook"):
        workbook = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
        try:
            if sheet not in workbook.sheetnames:
                raise SourceFormatError(
                    f"{source.path.name}: sheet {sheet!r} not found; sheets found: "
                    f"{workbook.sheetnames}. Check that the file is the expected "
                    "edition, or update the sheet name in "
                    "ccni_pipeline.sources.city_panel."
                )
            # Read-only mode yields empty rows too, so the n-th tuple is sheet row n.
            rows = list(workbook[sheet].iter_rows(min_row=1, values_only=True))
        finally:
            workbook.close()

    cells = pd.DataFrame(rows, dtype=object)
    cells.index = pd.RangeIndex(1, len(cells) + 1, name="row_number")
    cells.columns = [column_letter(index + 1) for index in range(cells.shape[1])]
    return cells


def _header_texts(cells: pd.DataFrame) -> pd.Series:
    """Return the stripped header text of every column, indexed by letter."""
    if _HEADER_ROW not in cells.index:
        return pd.Series(dtype="str")
    return cells.loc[_HEADER_ROW].map(cell_text).str.strip()


def _header_letters(
    header_row: pd.Series, source: SourceFile, spec: _SheetSpec
) -> dict[str, str]:
    """Map every header the reader needs to its column letter.

    Headers that the reader does not need are logged and their columns ignored.
    """
    found = [header for header in header_row if header]
    expected = spec.headers()
    counts = {header: int((header_row == header).sum()) for header in expected}
    missing = [header for header, count in counts.items() if count == 0]
    repeated = [header for header, count in counts.items() if count > 1]
    if missing or repeated:
        problems = [
            _header_problem("missing", missing),
            _header_problem("repeated", repeated),
        ]
        raise SourceFormatError(
            f"{source.path.name}, sheet {spec.sheet!r}, row {_HEADER_ROW}: "
            f"{'; '.join(problem for problem in problems if problem)}; expected "
            f"headers: {expected}; headers found: {found}. Check that the file is "
            "the expected edition, or update the header texts in "
            "ccni_pipeline.sources.city_panel."
        )

    unread = [header for header in found if header not in expected]
    if unread:
        logger.info(
            "%s sheet %r: columns not read: %s", source.path.name, spec.sheet, unread
        )
    return {header: header_row.index[header_row == header][0] for header in expected}


def _header_problem(problem: str, headers: list[str]) -> str:
    """Return e.g. "missing header 'a'" or "missing headers 'a', 'b'", or ""."""
    if not headers:
        return ""
    noun = "header" if len(headers) == 1 else "headers"
    return f"{problem} {noun} " + ", ".join(repr(header) for header in headers)


def _watermark_rows(text: pd.DataFrame, non_empty: pd.DataFrame) -> pd.Series:
    """Flag rows whose non-empty cells all carry the reseller watermark."""
    marked = text.apply(lambda column: column.str.contains(_WATERMARK_PATTERN))
    return non_empty.any(axis=1) & (marked | ~non_empty).all(axis=1)


def _log_stray_cells(
    non_empty: pd.DataFrame,
    watermark: pd.Series,
    data_rows: pd.Series,
    header_row: pd.Series,
    source: SourceFile,
    spec: _SheetSpec,
) -> None:
    """Log the non-empty cells that are neither data nor watermark, then skip them.

    These are cells in columns without a header (a stray note) and cells of rows
    whose read columns are all empty.
    """
    headerless = header_row.reindex(non_empty.columns).fillna("").eq("").to_numpy()
    outside = headerless[None, :] | ~data_rows.to_numpy()[:, None]
    stray = non_empty.to_numpy() & ~watermark.to_numpy()[:, None] & outside
    rows, columns = np.nonzero(stray)
    if len(rows) == 0:
        return
    pairs = list(zip(rows, columns, strict=True))[:_STRAY_CELLS_LOGGED]
    addresses = [
        f"{non_empty.columns[column]}{non_empty.index[row]}" for row, column in pairs
    ]
    logger.info(
        "%s sheet %r: ignored %d non-empty cells outside the data: %s",
        source.path.name,
        spec.sheet,
        len(rows),
        ", ".join(addresses),
    )


def _entities(
    body: pd.DataFrame, text: pd.DataFrame, letters: dict[str, str], spec: _SheetSpec
) -> pd.DataFrame:
    """Return the entity columns of the data rows and why a row cannot be used.

    The `entity_reason` column is "" for usable rows, else the reason that every
    value cell of the row is rejected with.
    """
    entities = pd.DataFrame(index=body.index)
    for name in _TEXT_ENTITY_COLUMNS:
        header = spec.entity_headers.get(name)
        entities[name] = text[letters[header]].str.strip() if header else ""

    reason = pd.Series("", index=body.index, dtype="object")
    year_header = spec.entity_headers.get("year")
    if year_header:
        entities["year"], year_reason = _parse_years(body[letters[year_header]])
        reason = reason.mask(year_reason != "", year_reason)
    else:
        entities["year"] = pd.Series(pd.NA, index=body.index, dtype="Int64")

    if "city_name" in spec.entity_headers:
        reason = reason.mask(entities["city_name"] == "", "no city name")
    if spec.value_text_header:
        letter = letters[spec.value_text_header]
        entities["value_text"] = text[letter].str.strip()
    else:
        entities["value_text"] = ""

    entities["entity_reason"] = reason
    return entities


def _parse_years(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse year cells into Int64 and return (years, reasons) like parse_numeric."""
    numbers, _ = parse_numeric(cells)
    whole = numbers.notna() & (numbers == numbers.round())
    years = numbers.where(whole).astype("Int64")

    year_text = cells.map(cell_text).str.strip()
    reasons = pd.Series("", index=cells.index, dtype="object")
    reasons[~whole & (year_text == "")] = "no year"
    invalid = ~whole & (year_text != "")
    reasons[invalid] = "invalid year: " + year_text[invalid].map(repr)
    return years, reasons


def _value_cells(
    body: pd.DataFrame, letters: dict[str, str], spec: _SheetSpec
) -> pd.DataFrame:
    """Melt the value columns into one row per value cell, in sheet order."""
    by_letter = {letters[column.header]: column for column in spec.values}
    long = (
        body[list(by_letter)]
        .reset_index()
        .melt(id_vars="row_number", var_name="column_letter", value_name="cell")
    )
    long = long.sort_values("row_number", kind="stable", ignore_index=True)
    long["column_header"] = long["column_letter"].map(
        {letter: column.header for letter, column in by_letter.items()}
    )
    long["variable"] = long["column_letter"].map(
        {letter: column.variable for letter, column in by_letter.items()}
    )
    long["unit"] = long["column_letter"].map(
        {letter: column.unit for letter, column in by_letter.items()}
    )
    long["original_text"] = long["cell"].map(cell_text)
    return long


def _split_parsed(
    long: pd.DataFrame, spec: _SheetSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the value cells into canonical units and split kept from rejected."""
    values, reasons = parse_numeric(long["cell"])
    for column in spec.values:
        if column.to_unit is not None:
            in_column = long["column_header"] == column.header
            values[in_column] = column.to_unit(values[in_column])

    if spec.year_from_value:
        long["year"], year_reasons = _parse_years(long["cell"])
        reasons = reasons.mask((reasons == "") & (year_reasons != ""), year_reasons)

    reasons = reasons.mask(long["entity_reason"] != "", long["entity_reason"])
    long["value"] = values
    long["reason"] = reasons
    long["stage"] = "read"
    is_kept = reasons == ""
    return long.loc[is_kept], long.loc[~is_kept]


def _watermark_rejects(text: pd.DataFrame, header_row: pd.Series) -> pd.DataFrame:
    """Return one rejected row per non-empty cell of the watermark rows."""
    cells = text.stack() if not text.empty else pd.Series(dtype="object")
    cells = cells[cells.astype("str").str.strip() != ""]
    rejects = pd.DataFrame(
        {
            "row_number": cells.index.get_level_values(0) if len(cells) else [],
            "column_letter": cells.index.get_level_values(1) if len(cells) else [],
            "original_text": cells.to_numpy(),
        }
    )
    rejects["column_header"] = rejects["column_letter"].map(header_row).fillna("")
    for name in (*_TEXT_ENTITY_COLUMNS, "variable"):
        rejects[name] = ""
    rejects["year"] = pd.Series(pd.NA, index=rejects.index, dtype="Int64")
    rejects["stage"] = "read"
    rejects["reason"] = "watermark row"
    return rejects


def _finish(
    frame: pd.DataFrame, columns: list[str], source: SourceFile, spec: _SheetSpec
) -> pd.DataFrame:
    """Add the file's provenance and row ids, then set column order and types."""
    frame = frame.copy()
    frame["source_id"] = source.source_id
    frame["file_sha256"] = source.sha256
    frame["sheet"] = spec.sheet
    frame = add_row_ids(frame.reset_index(drop=True))
    frame = frame[columns]
    types = {column: "str" for column in columns}
    types.update(row_number="int64", year="Int64")
    if "value" in columns:
        types.update(year="int64", value="float64")
    return frame.astype(types)
