"""Parsing of cell text into numbers, shared by all readers.

Source files store numbers as real numbers, as text (`'16737.30'`), with thousands
separators and trailing spaces (`"3,319.00 "`), in full-width digits, or write a
missing value as `#N/A`, `—`, `...` or an empty cell. `parse_numeric` turns a
column of such cells into finite floats and names, for every cell it cannot
parse, the reason, so the reader can record it as a rejected row.

Text is read as a number only if it is written in one of two forms, after
surrounding whitespace and a leading apostrophe are stripped and full-width
digits and punctuation are mapped to ASCII:

- plain: `1234.5`, `-0.5`, `.5`, `+3`, `1.5e3`;
- with a comma as thousands separator between every group of three digits
  before the decimal point: `1,234`, `-3,319.00`, `1,234,567.5`.

Anything else is rejected. A comma in another position is not read as a decimal
comma (`'12,34'`, `'1.234,5'`), because a misread value is worse than a missing
one. Text that Python would read as `inf` or `nan` is rejected too, and so is a
number too large for a float (`'1e400'`).
"""

import math
import re

import numpy as np
import pandas as pd

MISSING_MARKERS = {
    "",
    "#N/A",
    "#NA",
    "N/A",
    "NA",
    "NAN",
    "NULL",
    "—",
    "——",
    "-",
    "--",
    "…",
    "……",
    "...",
    "..",
}

_FULL_WIDTH = str.maketrans(
    "０１２３４５６７８９．，－＋％＇ｅＥ\u3000", "0123456789.,-+%'eE "
)
_PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_GROUPED_NUMBER = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?"
_NUMBER_PATTERN = re.compile(f"{_PLAIN_NUMBER}|{_GROUPED_NUMBER}", re.ASCII)
_COMMA_HINT = " (a comma is read only as a thousands separator, as in '1,234.5')"


def cell_text(value: object) -> str:
    """Return the text of a cell as stored: numbers by repr, None as ""."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def parse_numeric(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse cells into finite floats; return (values, reasons).

    `values` is NaN where a cell could not be parsed and `reasons` then names why
    ("empty cell", "missing marker '#N/A'", "not a number: 'abc'", "not a finite
    number: inf"); elsewhere the reason is "". Numeric cells that are NaN count
    as empty cells.
    """
    original = cells.astype("object")
    is_numeric = original.map(_is_numeric_cell).astype(bool)
    values = pd.Series(np.nan, index=cells.index, dtype="float64")
    reasons = pd.Series("", index=cells.index, dtype="object")

    numbers, number_reasons = _parse_numeric_cells(original[is_numeric])
    values[is_numeric] = numbers
    reasons[is_numeric] = number_reasons

    texts, text_reasons = _parse_text_cells(original[~is_numeric])
    values[~is_numeric] = texts
    reasons[~is_numeric] = text_reasons
    return values, reasons


def _is_numeric_cell(value: object) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(
        value, bool | np.bool_
    )


def _to_float(value: object) -> float:
    """Convert a numeric cell, reading an int too large for a float as infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _parse_numeric_cells(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (values, reasons) for cells stored as numbers."""
    values = cells.map(_to_float).astype("float64")
    reasons = pd.Series("", index=cells.index, dtype="object")
    reasons[values.isna()] = "empty cell"
    infinite = np.isinf(values)
    infinite_text = values[infinite].map(repr).astype("object")
    reasons[infinite] = "not a finite number: " + infinite_text
    return values.mask(infinite), reasons


def _clean_text(text: pd.Series) -> pd.Series:
    """Map full-width characters to ASCII, then strip whitespace and apostrophe."""
    return text.str.translate(_FULL_WIDTH).str.strip().str.lstrip("'").str.strip()


def _text_of_cell(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    return str(value)


def _parse_text_cells(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (values, reasons) for cells stored as text (or None)."""
    text = cells.map(_text_of_cell).astype("object")
    cleaned = _clean_text(text)
    is_number = cleaned.str.fullmatch(_NUMBER_PATTERN).astype(bool)

    values = pd.Series(np.nan, index=cells.index, dtype="float64")
    digits = cleaned[is_number].str.replace(",", "", regex=False)
    values[is_number] = pd.to_numeric(digits, errors="coerce")
    is_finite = np.isfinite(values)

    quoted = text.map(repr)
    reasons = pd.Series("", index=cells.index, dtype="object")
    not_number = ~is_number
    reasons[not_number] = "not a number: " + quoted[not_number]
    has_comma = not_number & cleaned.str.contains(",", regex=False)
    reasons[has_comma] = reasons[has_comma] + _COMMA_HINT
    too_large = is_number & ~is_finite
    reasons[too_large] = "not a finite number: " + quoted[too_large]
    is_marker = cleaned.str.upper().isin(MISSING_MARKERS) & (cleaned != "")
    reasons[is_marker] = "missing marker " + quoted[is_marker]
    reasons[cleaned == ""] = "empty cell"
    return values.where(is_finite), reasons
