"""The contract every reader follows: raw long frames with cell-level provenance.

A reader takes one delivered file and returns a `ReadResult`:

- `kept`: one row per value cell that parsed, in the columns of `RAW_COLUMNS`;
- `rejected`: one row per candidate value cell that did not parse (empty, `#N/A`,
  watermark row, non-numeric text, ...), in the columns of `REJECTED_COLUMNS`.

Every candidate cell lands in exactly one of the two, so the run summary can show
that rows read = rows kept + rows rejected. Values in `kept.value` are already in
the canonical unit named in `kept.unit` (the variable name carries it too, as in
`co2_mt` or `gdp_nominal_100m_yuan`); `original_text` keeps the cell as stored.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

PROVENANCE_COLUMNS = [
    "raw_row_id",  # stable id of the cell, see make_row_id
    "source_id",  # manifest id of the source file, e.g. "edgar_city_co2"
    "file_sha256",  # sha256 of the delivered file
    "sheet",  # sheet name; "" for CSV files
    "row_number",  # 1-based row number in the sheet or CSV file (header rows count)
    "column_letter",  # spreadsheet column letter, A = first column (CSV files too)
    "column_header",  # header text of the value column, as in the file
    "original_text",  # the cell as stored, as text (numbers rendered with repr)
]

ENTITY_COLUMNS = [
    "city_name",  # city name as written in the file ("" for province-level rows)
    "province_name",  # province name as written in the file, or ""
    "source_city_code",  # 6-digit division code when the file has one, else ""
    "year",  # data year (int)
    "variable",  # canonical variable name, unit in the name
]

RAW_COLUMNS = [
    *PROVENANCE_COLUMNS,
    *ENTITY_COLUMNS,
    "value",  # float in the canonical unit, NaN only for text-valued variables
    "value_text",  # text value for categorical variables (pilot batch, target type)
    "unit",  # canonical unit of `value`
]

REJECTED_COLUMNS = [
    *PROVENANCE_COLUMNS,
    *ENTITY_COLUMNS,
    "stage",  # where the row was rejected: "read", "resolve", "validate", ...
    "reason",  # why, in a sentence a data engineer can act on
]


@dataclass(frozen=True)
class SourceFile:
    """One delivered file as a reader sees it."""

    source_id: str
    path: Path
    sha256: str


@dataclass
class ReadResult:
    """What a reader returns: the kept value cells and the rejected ones."""

    kept: pd.DataFrame
    rejected: pd.DataFrame

    @property
    def rows_read(self) -> int:
        return len(self.kept) + len(self.rejected)


class SourceFormatError(ValueError):
    """A delivered file does not have the layout its reader expects."""


def make_row_id(file_sha256: str, sheet: str, row_number: int, column: str) -> str:
    """Return a stable 16-hex id for one cell of one file version."""
    key = f"{file_sha256}|{sheet}|{row_number}|{column}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def column_letter(index: int) -> str:
    """Return the spreadsheet letter of a 1-based column index (1 -> A, 27 -> AA)."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def empty_kept() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in RAW_COLUMNS})


def empty_rejected() -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype="object") for column in REJECTED_COLUMNS}
    )


def add_row_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill `raw_row_id` from the provenance columns of every row."""
    keys = (
        frame["file_sha256"].astype(str)
        + "|"
        + frame["sheet"].astype(str)
        + "|"
        + frame["row_number"].astype(str)
        + "|"
        + frame["column_letter"].astype(str)
    )
    frame = frame.copy()
    frame["raw_row_id"] = [
        hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] for key in keys
    ]
    return frame
