"""Reader for the CEADs city CO2 inventory (Shan et al., 290 Chinese cities).

The workbook contains the same numbers twice: the `emission matrix` sheet (one row per
city, one column per year) and the `emission vector` sheet (one row per city-year).
This module reads the matrix, which is the authoritative sheet for the pipeline
because its cell addresses are stable per city and year. The vector sheet is a long
copy of the same values, and a test checks that the two agree for sample
city-years. Values are million tonnes CO2 (the NOTE sheet reads "million tones").
"""

import logging
from pathlib import Path

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

MATRIX_SHEET = "emission matrix"
CITY_HEADER = "city"
# The years the matrix sheet has columns for: 1995 and 1997-2019, no 1996.
EXPECTED_YEARS = (1995, *range(1997, 2020))
_EXPECTED_HEADERS = f"{CITY_HEADER!r}, then one column per year of EXPECTED_YEARS"
VARIABLE = "co2_mt"
UNIT = "Mt CO2"


def read_ceads_city_co2(source: SourceFile) -> ReadResult:
    """Read the `emission matrix` sheet into the raw long frame.

    City names stay as written, with the province prefix and without 市 (`安徽安庆`,
    and `北京` for a municipality), so `province_name` is "" and the city crosswalk
    resolves the prefix. The year columns are 1995 and 1997-2019 because the sheet
    has no 1996 column. A blank value cell becomes a rejected row with reason
    "empty cell".

    Args:
        source: The delivered workbook.

    Returns:
        Kept cells as `co2_mt` in Mt CO2, and the rejected blank cells.

    Raises:
        SourceFormatError: The file is empty or not a valid xlsx workbook, the
            sheet is missing, or its header is not `city` followed by year
            columns for every year of `EXPECTED_YEARS`.
    """
    header, rows = _load_sheet(source.path, MATRIX_SHEET)
    years = _year_columns(header, rows, source.path)
    wide = _wide_frame(header, rows, source.path)
    cells = _melt_years(wide, header, years)
    result = _split_cells(cells, source)
    logger.info(
        "read %s: %d cells, %d kept, %d rejected",
        source.path.name,
        result.rows_read,
        len(result.kept),
        len(result.rejected),
    )
    return result


def _load_sheet(path: Path, sheet: str) -> tuple[list[object], list[tuple]]:
    with reading(path, "xlsx workbook"):
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet not in workbook.sheetnames:
                raise SourceFormatError(
                    f"{path}: sheet {sheet!r} not found (sheets: "
                    f"{workbook.sheetnames}); check that this is the CEADs "
                    "290-city workbook"
                )
            rows = list(workbook[sheet].iter_rows(values_only=True))
        finally:
            workbook.close()
    if not rows:
        raise SourceFormatError(f"{path}: sheet {sheet!r} is empty")
    return list(rows[0]), rows[1:]


def _year_columns(
    header: list[object], rows: list[tuple], path: Path
) -> dict[int, int]:
    """Return {1-based column index: year} for the header row, checking its layout.

    Columns with a 4-digit year header are read, so a year added to the sheet is
    read too. Other columns are logged and ignored, but every year of
    `EXPECTED_YEARS` must have a column.
    """
    labels = [cell_text(text).strip() for text in header] or [""]
    found = [label for label in labels if label]
    if labels[0] != CITY_HEADER:
        raise SourceFormatError(
            f"{path}: sheet {MATRIX_SHEET!r} cell A1 is {labels[0]!r}, expected "
            f"{CITY_HEADER!r}; expected headers: {_EXPECTED_HEADERS}; headers "
            f"found: {found}. The sheet layout changed, update ceads.py"
        )

    years: dict[int, int] = {}
    ignored = []
    for index, label in enumerate(labels[1:], start=2):
        if label.isdigit() and len(label) == 4:
            years[index] = int(label)
        elif label or _column_has_values(rows, index):
            ignored.append(f"{column_letter(index)} {label!r}")
    if ignored:
        logger.warning(
            "%s: sheet %r: ignored columns without a year header: %s",
            path.name,
            MATRIX_SHEET,
            ", ".join(ignored),
        )
    _check_years(list(years.values()), found, path)
    return years


def _check_years(years: list[int], found: list[str], path: Path) -> None:
    missing = [year for year in EXPECTED_YEARS if year not in years]
    repeated = sorted({year for year in years if years.count(year) > 1})
    if missing or repeated:
        raise SourceFormatError(
            f"{path}: sheet {MATRIX_SHEET!r}: missing year columns {missing}, "
            f"repeated year columns {repeated}; expected headers: {_EXPECTED_HEADERS}; "
            f"headers found: {found}. Check that this is the CEADs 290-city "
            "workbook, or update EXPECTED_YEARS in ceads.py"
        )


def _column_has_values(rows: list[tuple], index: int) -> bool:
    """Return whether any row has a non-empty cell in the 1-based column `index`."""
    return any(len(row) >= index and cell_text(row[index - 1]).strip() for row in rows)


def _wide_frame(header: list[object], rows: list[tuple], path: Path) -> pd.DataFrame:
    """Return the matrix as a frame with `row_number` and the city in column A."""
    width = len(header)
    padded = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows]
    wide = pd.DataFrame(padded, columns=range(1, width + 1), dtype="object")
    wide.insert(0, "row_number", range(2, len(rows) + 2))

    blank_city = wide[1].map(lambda value: cell_text(value).strip() == "")
    all_blank = wide.iloc[:, 2:].isna().all(axis=1)
    orphan = blank_city & ~all_blank
    if orphan.any():
        first = int(wide.loc[orphan, "row_number"].iloc[0])
        raise SourceFormatError(
            f"{path}: sheet {MATRIX_SHEET!r} row {first} has values but no city "
            "name in column A; fix the workbook or report it to the publisher"
        )
    return wide[~blank_city]


def _melt_years(
    wide: pd.DataFrame, header: list[object], years: dict[int, int]
) -> pd.DataFrame:
    """Return one row per (city, year) cell with its address and header text."""
    cells = wide.melt(
        id_vars=["row_number", 1],
        value_vars=list(years),
        var_name="column_index",
        value_name="cell",
    ).rename(columns={1: "city_name"})
    cells["city_name"] = cells["city_name"].map(lambda value: cell_text(value).strip())
    cells["year"] = cells["column_index"].map(years).astype(int)
    cells["column_letter"] = cells["column_index"].map(column_letter)
    cells["column_header"] = cells["column_index"].map(
        lambda index: cell_text(header[index - 1])
    )
    return cells.sort_values(["row_number", "column_index"], ignore_index=True)


def _split_cells(cells: pd.DataFrame, source: SourceFile) -> ReadResult:
    values, reasons = parse_numeric(cells["cell"])
    frame = pd.DataFrame(
        {
            "source_id": source.source_id,
            "file_sha256": source.sha256,
            "sheet": MATRIX_SHEET,
            "row_number": cells["row_number"].astype(int),
            "column_letter": cells["column_letter"],
            "column_header": cells["column_header"],
            "original_text": cells["cell"].map(cell_text),
            "city_name": cells["city_name"],
            "province_name": "",
            "source_city_code": "",
            "year": cells["year"],
            "variable": VARIABLE,
        }
    )
    frame = add_row_ids(frame)
    is_kept = reasons == ""

    kept = frame[is_kept].assign(value=values[is_kept], value_text="", unit=UNIT)
    rejected = frame[~is_kept].assign(stage="read", reason=reasons[~is_kept])
    return ReadResult(
        kept=kept[RAW_COLUMNS].reset_index(drop=True),
        rejected=rejected[REJECTED_COLUMNS].reset_index(drop=True),
    )
