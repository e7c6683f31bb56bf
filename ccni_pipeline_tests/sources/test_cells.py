"""Tests of `parse_numeric` and `cell_text`: one row per kind of cell a file stores."""

import math

import numpy as np
import pandas as pd
import pytest

from ccni_pipeline.sources.cells import cell_text, parse_numeric

COMMA_HINT = " (a comma is read only as a thousands separator, as in '1,234.5')"

# (cell as stored, expected value or None, expected reason)
CASES = [
    # numbers stored as numbers
    (43133076, 43133076.0, ""),
    (0.15, 0.15, ""),
    (-5000, -5000.0, ""),
    (np.int64(7), 7.0, ""),
    (np.float64(2.5), 2.5, ""),
    (float("nan"), None, "empty cell"),
    (float("inf"), None, "not a finite number: inf"),
    (float("-inf"), None, "not a finite number: -inf"),
    (10**400, None, "not a finite number: inf"),
    (True, None, "not a number: 'True'"),
    # numbers stored as text
    ("16737.30", 16737.3, ""),
    ("'16737.30", 16737.3, ""),
    ("5024901\n", 5024901.0, ""),
    ("  42 ", 42.0, ""),
    ("-0.5", -0.5, ""),
    ("+3", 3.0, ""),
    (".5", 0.5, ""),
    ("1.5e3", 1500.0, ""),
    # thousands separators, only between groups of three digits
    ("1,234", 1234.0, ""),
    ("1,234,567.5", 1234567.5, ""),
    ("-3,319.00 ", -3319.0, ""),
    ("4,291,000.00 ", 4291000.0, ""),
    # full-width digits, punctuation and spaces
    ("１２３４５", 12345.0, ""),
    ("１，２３４．５", 1234.5, ""),
    ("－１２", -12.0, ""),
    ("\u3000１２\u3000", 12.0, ""),
    # missing markers and empty cells
    (None, None, "empty cell"),
    ("", None, "empty cell"),
    ("   ", None, "empty cell"),
    ("'", None, "empty cell"),
    ("#N/A", None, "missing marker '#N/A'"),
    ("—", None, "missing marker '—'"),
    ("——", None, "missing marker '——'"),
    ("...", None, "missing marker '...'"),
    ("…", None, "missing marker '…'"),
    ("-", None, "missing marker '-'"),
    ("nan", None, "missing marker 'nan'"),
    ("NULL", None, "missing marker 'NULL'"),
    # text that must not become a number
    ("inf", None, "not a number: 'inf'"),
    ("-inf", None, "not a number: '-inf'"),
    ("Infinity", None, "not a number: 'Infinity'"),
    ("1e400", None, "not a finite number: '1e400'"),
    ("-1e400", None, "not a finite number: '-1e400'"),
    ("12,34", None, "not a number: '12,34'" + COMMA_HINT),
    ("1.234,5", None, "not a number: '1.234,5'" + COMMA_HINT),
    ("1,2345", None, "not a number: '1,2345'" + COMMA_HINT),
    ("1,23,456", None, "not a number: '1,23,456'" + COMMA_HINT),
    ("123,", None, "not a number: '123,'" + COMMA_HINT),
    ("1 234", None, "not a number: '1 234'"),
    ("107284 536966", None, "not a number: '107284 536966'"),
    ("0x10", None, "not a number: '0x10'"),
    ("1_000", None, "not a number: '1_000'"),
    ("12%", None, "not a number: '12%'"),
    ("١٢٣", None, "not a number: '١٢٣'"),  # Arabic-Indic digits
    ("abc", None, "not a number: 'abc'"),
]


@pytest.mark.parametrize(("cell", "expected", "reason"), CASES)
def test_parse_numeric_case(cell, expected, reason):
    values, reasons = parse_numeric(pd.Series([cell], dtype="object"))
    assert reasons.iloc[0] == reason
    if expected is None:
        assert math.isnan(values.iloc[0])
    else:
        assert values.iloc[0] == expected


def test_parse_numeric_whole_column():
    cells = pd.Series(
        ["1,234", 5.0, None, "12,34", float("inf")], index=[10, 11, 12, 13, 14]
    )
    values, reasons = parse_numeric(cells)
    assert list(values.index) == [10, 11, 12, 13, 14]
    assert list(reasons.index) == [10, 11, 12, 13, 14]
    assert values[10] == 1234.0
    assert values[11] == 5.0
    assert values[[12, 13, 14]].isna().all()
    assert list(reasons) == [
        "",
        "",
        "empty cell",
        "not a number: '12,34'" + COMMA_HINT,
        "not a finite number: inf",
    ]


def test_parse_numeric_only_finite_values():
    cells = pd.Series(CASES, dtype="object").map(lambda case: case[0])
    values, reasons = parse_numeric(cells)
    assert np.isfinite(values[reasons == ""]).all()
    assert values[reasons != ""].isna().all()


def test_parse_numeric_empty_column():
    values, reasons = parse_numeric(pd.Series([], dtype="object"))
    assert values.empty
    assert reasons.empty


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (None, ""),
        (float("nan"), ""),
        (43133076.0, "43133076"),
        (0.15, "0.15"),
        (2020, "2020"),
        ("3,319.00 ", "3,319.00 "),
    ],
)
def test_cell_text(cell, text):
    assert cell_text(cell) == text
