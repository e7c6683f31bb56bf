"""Parsing of cell text into numbers, shared by all readers.

Source files store numbers as real numbers, as text (`'16737.30'`), with thousands
separators and trailing spaces (`"3,319.00 "`), in full-width digits, or write a
missing value as `#N/A`, `—`, `...` or an empty cell. `parse_numeric` turns a
column of such cells into floats and names, for every cell it cannot parse, the
reason, so the reader can record it as a rejected row.
"""

import math

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

_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－＋％", "0123456789.,-+%")


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
    """Parse cells into floats; return (values, reasons).

    `values` is NaN where a cell could not be parsed and `reasons` then names why
    ("empty cell", "missing marker '#N/A'", "not a number: 'abc'"); elsewhere the
    reason is "".
    """
    original = cells.astype("object")
    numeric_mask = original.map(
        lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool)
    )
    values = pd.Series(np.nan, index=cells.index, dtype="float64")
    values[numeric_mask] = original[numeric_mask].astype("float64")

    text = original[~numeric_mask].map(lambda v: "" if v is None else str(v))
    cleaned = (
        text.str.translate(_FULL_WIDTH)
        .str.replace("\u3000", " ", regex=False)
        .str.strip()
        .str.lstrip("'")
        .str.replace(",", "", regex=False)
        .str.replace(" ", "", regex=False)
    )
    parsed = pd.to_numeric(cleaned, errors="coerce")
    values[~numeric_mask] = parsed

    reasons = pd.Series("", index=cells.index, dtype="object")
    nan_numeric = numeric_mask & values.isna()
    reasons[nan_numeric] = "empty cell"
    unparsed = ~numeric_mask & parsed.reindex(cells.index).isna()
    upper = cleaned.str.upper()
    is_empty = unparsed & (cleaned.reindex(cells.index) == "")
    is_marker = unparsed & ~is_empty & upper.reindex(cells.index).isin(MISSING_MARKERS)
    reasons[is_empty] = "empty cell"
    reasons[is_marker] = "missing marker " + text[is_marker[~numeric_mask]].map(repr)
    other = unparsed & ~is_empty & ~is_marker
    reasons[other] = "not a number: " + text[other[~numeric_mask]].map(repr)
    return values, reasons
