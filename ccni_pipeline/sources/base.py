"""The contract every reader follows: raw long frames with cell-level provenance.

A reader takes one delivered file and returns a `ReadResult`:

- `kept`: one row per value cell that parsed, in the columns of `RAW_COLUMNS`;
- `rejected`: one row per candidate value cell that did not parse (empty, `#N/A`,
  watermark row, non-numeric text, ...), in the columns of `REJECTED_COLUMNS`.

Every candidate cell lands in exactly one of the two, so the run summary can show
that rows read = rows kept + rows rejected. Values in `kept.value` are already in
the canonical unit named in `kept.unit`, which the variable name carries too, as
in `co2_mt` or `gdp_nominal_100m_yuan`. `original_text` keeps the cell as stored.

A file that cannot be read at all (empty, truncated, corrupt, not UTF-8) or whose
layout differs from what its reader expects raises `SourceFormatError` instead;
readers wrap the opening and reading of a file in `reading` for the former.
"""

import csv
import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException
from python_calamine import CalamineError

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
    """Result of a reader: the kept value cells and the rejected ones."""

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


FETCH_ADVICE = "fetch it again with `ccni fetch`, or check the file the manifest names"

# Errors that openpyxl, python-calamine and zipfile raise for a file that is not
# a complete xlsx workbook (truncated download, another format renamed, damaged zip).
_WORKBOOK_ERRORS = (
    zipfile.BadZipFile,
    InvalidFileException,
    CalamineError,
    ParseError,
    zlib.error,
    EOFError,
)
_TABLE_ERRORS = (csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError)
_UTF8_BOM = b"\xef\xbb\xbf"


@contextmanager
def reading(
    path: Path, what: str, *, encoding_note: str = "", advice: str = FETCH_ADVICE
) -> Iterator[None]:
    """Raise SourceFormatError for a file that cannot be opened, decoded or parsed.

    Wrap the opening and reading of one file in it. It rejects an empty file
    first, then turns the errors that the xlsx and CSV libraries raise for a
    truncated, corrupt or mis-encoded file into a `SourceFormatError` that names
    the file and what to do. Other exceptions, `SourceFormatError` included, pass
    unchanged.

    Args:
        path: The file being read.
        what: Its expected format as a noun, e.g. "xlsx workbook" or "CSV file".
        encoding_note: Added in brackets to the advice for a file that is not
            UTF-8, e.g. "the CREA files are UTF-8 with BOM".
        advice: What to do about a file that cannot be read.

    Raises:
        SourceFormatError: The file is empty, or reading it raised one of the
            errors above.
    """
    if path.stat().st_size == 0:
        raise SourceFormatError(f"{path} is empty (0 bytes); {advice}")
    try:
        yield
    except UnicodeDecodeError as error:
        message = _encoding_message(path, error, encoding_note)
        raise SourceFormatError(message) from error
    except _WORKBOOK_ERRORS as error:
        raise SourceFormatError(
            f"{path} is not a valid {what} (truncated or corrupt?); {advice}. "
            f"Error: {_error_name(error)}: {error}"
        ) from error
    except _TABLE_ERRORS as error:
        raise SourceFormatError(
            f"{path} is not a valid {what} ({_error_name(error)}: {error}); {advice}"
        ) from error
    except KeyError as error:
        # zipfile raises KeyError("There is no item named ... in the archive") for
        # a zip file that lacks the parts of an xlsx workbook.
        detail = str(error.args[0]) if error.args else ""
        if "in the archive" not in detail:
            raise
        raise SourceFormatError(
            f"{path} is not a valid {what}: it is a zip file, but "
            f"{detail[:1].lower()}{detail[1:]}; {advice}"
        ) from error


def _error_name(error: Exception) -> str:
    """Return the qualified name of an exception type, e.g. `zipfile.BadZipFile`."""
    module = type(error).__module__.lstrip("_")
    name = type(error).__name__
    return name if module == "builtins" else f"{module}.{name}"


def _encoding_message(path: Path, error: UnicodeDecodeError, note: str) -> str:
    """Describe where a file stops being UTF-8, as a byte offset into the file."""
    # The decoded buffer may be a chunk or the file without its BOM, so the
    # offset is found by decoding the whole file again.
    data = path.read_bytes()
    offset = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        data[offset:].decode("utf-8")
    except UnicodeDecodeError as whole_file_error:
        position = offset + whole_file_error.start
        line = data[:position].count(b"\n") + 1
        where = f"byte 0x{data[position]:02x} at position {position}, line {line}"
    else:
        where = f"{error.encoding} codec: {error.reason}"
    fix = f"save it as UTF-8 ({note})" if note else "save it as UTF-8"
    return f"{path} is not UTF-8 ({where}); {fix}"
