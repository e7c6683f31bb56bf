"""Readers for city climate targets keyed by UN/LOCODE, and the LOCODE name list.

Both files are OpenClimate CSV extracts filtered to China:

- `net_zero_tracker_CN_Target.csv`: one row per Net Zero Tracker target of a Chinese
  actor. The actor is a UN/LOCODE (`CN SGH`) for a city or an ISO 3166-2 code
  (`CN-HI`) for a province. `ccni_pipeline/cities/locode_to_division.csv` maps
  these actors to division codes.
- `UNLOCODE_CN_city_names_partial.csv`: English names of some Chinese UN/LOCODEs,
  used to decode the actor ids above.
"""

import csv
import io
import logging
import re
from pathlib import Path

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
from ccni_pipeline.sources.cells import parse_numeric

logger = logging.getLogger(__name__)

NZT_COLUMNS = [
    "target_id",
    "actor_id",
    "target_type",
    "baseline_year",
    "target_year",
    "target_value",
    "target_unit",
    "URL",
    "datasource_id",
]
TARGET_YEAR_VARIABLE = "target_year"
TARGET_YEAR_UNIT = "year"

UNLOCODE_COLUMNS = ["name", "actor_id", "preferred", "language", "datasource_id"]
PREFERRED_NAME_VARIABLE = "locode_name_en"
ALTERNATIVE_NAME_VARIABLE = "locode_alt_name_en"
_UNLOCODE_ISSUE = re.compile(r"^UNLOCODE:(?P<year>\d{4})-\d+$")
_ENCODING_NOTE = "the OpenClimate extracts are UTF-8"

DETAIL_COLUMNS = [
    "target_id",
    "actor_id",
    "target_type",
    "baseline_year",
    "target_year",
    "target_value",
    "target_unit",
    "url",
    "raw_row_id",
]


def read_net_zero_tracker(source: SourceFile) -> ReadResult:
    """Read one `target_year` row per Net Zero Tracker target.

    `value` and `year` are both the target year, and `value_text` is the target type
    (`Net zero`, `Climate neutral`, `Absolute emission reduction`). `city_name` is
    the actor id as written (`CN SGH`, or `CN-HI` for Hainan province). The
    candidate cell is the `target_year` cell, so the baseline year, target value,
    unit and URL are in `net_zero_tracker_details`, joined on `raw_row_id`.

    Args:
        source: The delivered CSV file.

    Returns:
        Kept target rows, and rejected rows whose target year is not a whole number
        or whose actor id is empty.

    Raises:
        SourceFormatError: The file is empty, not UTF-8 or not a valid CSV file,
            or its header is missing or repeats one of the expected columns.
    """
    table, letters = _read_csv(source.path, NZT_COLUMNS)
    frame = _provenance(table, source, "target_year", letters)
    values, reasons = parse_numeric(table["target_year"])
    reasons = reasons.where(reasons != "", _year_reasons(values))
    reasons = reasons.where(
        table["actor_id"].str.strip() != "",
        "actor_id is empty, so the target has no actor",
    )

    frame["city_name"] = table["actor_id"].str.strip()
    frame["year"] = values.where(reasons == "").astype("Int64")
    frame["variable"] = TARGET_YEAR_VARIABLE
    result = _split(
        frame,
        reasons,
        value=values,
        value_text=table["target_type"].str.strip(),
        unit=TARGET_YEAR_UNIT,
    )
    _log_counts(source, result)
    return result


def net_zero_tracker_details(source: SourceFile) -> pd.DataFrame:
    """Return every Net Zero Tracker target with its baseline, value, unit and URL.

    Args:
        source: The delivered CSV file, as passed to `read_net_zero_tracker`.

    Returns:
        One row per target in the columns of `DETAIL_COLUMNS`. Years are nullable
        integers, `target_value` is a float (NaN where blank), blank text is "",
        and `raw_row_id` is the id of the row's `target_year` cell, which is the
        `raw_row_id` of the matching `read_net_zero_tracker` row.
    """
    table, letters = _read_csv(source.path, NZT_COLUMNS)
    frame = _provenance(table, source, "target_year", letters)
    baseline_years, _ = parse_numeric(table["baseline_year"])
    target_years, _ = parse_numeric(table["target_year"])
    target_values, _ = parse_numeric(table["target_value"])
    details = pd.DataFrame(
        {
            "target_id": table["target_id"].str.strip(),
            "actor_id": table["actor_id"].str.strip(),
            "target_type": table["target_type"].str.strip(),
            "baseline_year": _whole_years(baseline_years),
            "target_year": _whole_years(target_years),
            "target_value": target_values,
            "target_unit": table["target_unit"].str.strip(),
            "url": table["URL"].str.strip(),
            "raw_row_id": frame["raw_row_id"],
        }
    )
    return details[DETAIL_COLUMNS].reset_index(drop=True)


def read_unlocode_names(source: SourceFile) -> ReadResult:
    """Read the English name of each UN/LOCODE as a text-valued row.

    `city_name` is the LOCODE (`CN BJS`) and `value_text` its name (`Beijing`). The
    variable is `locode_name_en` for the preferred name (`preferred` = 1) and
    `locode_alt_name_en` for an alternative spelling (`Hohhot` next to the
    preferred `Huhehaote`). `year` is the UN/LOCODE issue year taken from
    `datasource_id` (`UNLOCODE:2022-1` -> 2022).

    Args:
        source: The delivered CSV file.

    Returns:
        Kept name rows, and rejected rows with an empty name or actor id, a
        `preferred` flag other than 0 or 1, or a `datasource_id` without an issue
        year.

    Raises:
        SourceFormatError: The file is empty, not UTF-8 or not a valid CSV file,
            or its header is missing or repeats one of the expected columns.
    """
    table, letters = _read_csv(source.path, UNLOCODE_COLUMNS)
    frame = _provenance(table, source, "name", letters)
    names = table["name"].str.strip()
    preferred = table["preferred"].str.strip()
    issue_year = table["datasource_id"].str.strip().str.extract(_UNLOCODE_ISSUE)["year"]

    datasource_text = table["datasource_id"].map(repr)
    preferred_text = table["preferred"].map(repr)
    reasons = pd.Series("", index=table.index, dtype="object")
    reasons[issue_year.isna()] = (
        "datasource_id has no UN/LOCODE issue year: " + datasource_text
    )
    reasons[~preferred.isin(["0", "1"])] = (
        "preferred flag is not 0 or 1: " + preferred_text
    )
    reasons[table["actor_id"].str.strip() == ""] = "actor_id is empty"
    reasons[names == ""] = "empty cell"

    frame["city_name"] = table["actor_id"].str.strip()
    frame["year"] = pd.to_numeric(issue_year).astype("Int64")
    frame["variable"] = preferred.map({"1": PREFERRED_NAME_VARIABLE}).fillna(
        ALTERNATIVE_NAME_VARIABLE
    )
    result = _split(frame, reasons, value=None, value_text=names, unit="")
    _log_counts(source, result)
    return result


def _read_csv(path: Path, expected: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return the data rows as text with `row_number`, and each column's letter."""
    with reading(path, "CSV file", encoding_note=_ENCODING_NOTE):
        text = path.read_bytes().decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        _check_header(header, expected, path)

        records = []
        previous_line = reader.line_num
        for row in reader:
            first_line = previous_line + 1
            previous_line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            padded = row + [""] * (len(header) - len(row))
            records.append([first_line, *padded[: len(header)]])

    table = pd.DataFrame(records, columns=["row_number", *header], dtype="object")
    table["row_number"] = table["row_number"].astype(int)
    letters = {name: column_letter(header.index(name) + 1) for name in expected}
    return table, letters


def _check_header(header: list[str], expected: list[str], path: Path) -> None:
    """Raise for a missing or repeated expected column; log the columns not read."""
    missing = [column for column in expected if column not in header]
    repeated = [column for column in expected if header.count(column) > 1]
    if missing or repeated:
        raise SourceFormatError(
            f"{path}: header is missing column(s) {missing}, repeats column(s) "
            f"{repeated}; expected columns: {expected}; header found: {header}. "
            "Check that this is the OpenClimate extract the reader was written for"
        )
    unread = [column for column in header if column not in expected]
    if unread:
        logger.info("%s: columns not read: %s", path.name, unread)


def _provenance(
    table: pd.DataFrame, source: SourceFile, column: str, letters: dict[str, str]
) -> pd.DataFrame:
    """Return the provenance columns for the `column` cell of every row."""
    frame = pd.DataFrame(
        {
            "source_id": source.source_id,
            "file_sha256": source.sha256,
            "sheet": "",
            "row_number": table["row_number"],
            "column_letter": letters[column],
            "column_header": column,
            "original_text": table[column],
            "city_name": "",
            "province_name": "",
            "source_city_code": "",
        },
        index=table.index,
    )
    return add_row_ids(frame)


def _year_reasons(values: pd.Series) -> pd.Series:
    """Return "" for whole-number years and a reason for any other parsed number."""
    is_whole = values.notna() & (values % 1 == 0)
    return pd.Series("", index=values.index, dtype="object").where(
        is_whole | values.isna(),
        "target year is not a whole number: " + values.map(repr),
    )


def _whole_years(values: pd.Series) -> pd.Series:
    return values.where(values % 1 == 0).astype("Int64")


def _split(
    frame: pd.DataFrame,
    reasons: pd.Series,
    value: pd.Series | None,
    value_text: pd.Series,
    unit: str,
) -> ReadResult:
    is_kept = reasons == ""
    frame = frame.assign(year=frame["year"].astype("Int64"))
    kept = frame[is_kept].assign(
        year=frame.loc[is_kept, "year"].astype("int64"),
        value=value[is_kept] if value is not None else float("nan"),
        value_text=value_text[is_kept],
        unit=unit,
    )
    rejected = frame[~is_kept].assign(stage="read", reason=reasons[~is_kept])
    return ReadResult(
        kept=kept[RAW_COLUMNS].reset_index(drop=True),
        rejected=rejected[REJECTED_COLUMNS].reset_index(drop=True),
    )


def _log_counts(source: SourceFile, result: ReadResult) -> None:
    logger.info(
        "read %s: %d rows, %d kept, %d rejected",
        source.path.name,
        result.rows_read,
        len(result.kept),
        len(result.rejected),
    )
