"""Reader for provincial power generation and consumption (CREA's Wind export).

The file `power_generation_by_province_and_source.csv` is a Wind terminal export:
UTF-8 with a byte-order mark, metadata rows labelled in column A (`Wind`, `Name`,
`Frequency`, `Unit`, `ID`, `Time Period`, `Source`, `Update`), then one row per month
(`YYYY-MM`) and one column per series. Every series is year-to-date (`...: YTD`), so
the December value is the annual total. Numbers are text with thousands separators
and a trailing space (`"4,291,000.00 "`), and the file writes a missing value as
`0.00`.

This module also derives the provincial non-fossil share of generation from the
kept rows.

Unit: the Unit row is empty and the source notes claim 100 million kWh (亿千瓦时),
but the magnitudes show 10,000 kWh (万千瓦时):

- Beijing thermal output for January 1997 is `133,800.00`. Read as 100 million kWh,
  one month in Beijing would exceed China's annual generation.
- CREA's national export from the same Wind terminal
  (`generation-consumption-utilization-capacity.csv`, Unit row "100 million kwh")
  gives, for 2020-12 year-to-date, whole-society consumption 75,110.00, thermal
  output 52,798.70 and hydro output 12,140.30. Divided by 10,000, the provincial
  December 2020 values here sum to 75,110.0, 52,798.9 and 12,140.6.

The reader therefore divides every value by 10,000 and emits 100 million kWh.
"""

import csv
import io
import logging
import re
from dataclasses import dataclass
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

UNIT = "100 million kWh"
SOURCE_UNITS_PER_100M_KWH = 10_000  # the file is in 10,000 kWh (万千瓦时)
MISSING_DECEMBER_REASON = "December value 0.00 is the file's missing-value marker"

THERMAL = "power_gen_thermal_100m_kwh"
HYDRO = "power_gen_hydro_100m_kwh"
WIND = "power_gen_wind_100m_kwh"
NUCLEAR = "power_gen_nuclear_100m_kwh"
SOLAR = "power_gen_solar_100m_kwh"
CONSUMPTION = "power_consumption_100m_kwh"
GENERATION_VARIABLES = [THERMAL, HYDRO, WIND, NUCLEAR, SOLAR]
NON_FOSSIL_VARIABLES = [HYDRO, WIND, NUCLEAR, SOLAR]

# Series name prefix (before the province) -> variable. The thermal and hydro names
# read "Generating Capacity", but those series are generation output.
SERIES_PREFIXES = {
    "Output: Thermal Power Generating Capacity": THERMAL,
    "Output: Hydro Power Generating Capacity": HYDRO,
    "Power Generation: Wind Power": WIND,
    "Output: Nuclear Power": NUCLEAR,
    "Output: Solar": SOLAR,
    "Power Consumption": CONSUMPTION,
}
_SERIES_NAME = re.compile(r"^(?P<prefix>.+): (?P<province>[^:]+): YTD$")
_PERIOD = re.compile(r"^\d{4}-\d{2}$")
_TIME_PERIOD = re.compile(r"^(?P<start>\d{4}-\d{2}):(?P<end>\d{4}-\d{2})$")
_ENCODING_NOTE = "the CREA files are UTF-8 with BOM"


@dataclass
class _CsvTable:
    """The file split into labelled metadata rows and monthly data rows."""

    metadata: dict[str, list[str]]  # label in column A -> the whole row
    data: pd.DataFrame  # columns: row_number, period, then 1-based column indexes
    width: int


def read_province_power_generation(source: SourceFile) -> ReadResult:
    """Read the December (annual total) value of every series.

    Candidate cells are the December rows only: every series is year-to-date, so
    the December value is the annual total and the other months are not emitted.
    Those months still decide how a December `0.00` is read. If any earlier month
    of the same year is positive, the `0.00` is the file's missing-value marker and
    the cell is rejected. If the whole year is zero, the zero is real (for example
    Hainan nuclear before its first reactor) and is kept. A December outside the
    series' `Time Period` is rejected, because the file pads such years with 0.00.
    Values are divided by 10,000 to go from 10,000 kWh to 100 million kWh.

    Args:
        source: The delivered CSV file.

    Returns:
        Kept December cells (`province_name` = the English province in the series
        name, `city_name` = ""), and rejected December cells.

    Raises:
        SourceFormatError: The file is empty, not UTF-8 or not a valid CSV file,
            or the metadata rows, a series name, its frequency or the unit row
            differ from the layout this reader was written for.
    """
    table = _read_table(source.path)
    series = _series_table(table, source.path)
    cells = _december_cells(table, series)
    result = _split_cells(cells, source)
    estimates = _estimated_totals(cells, source)
    result = ReadResult(
        kept=pd.concat([result.kept, estimates], ignore_index=True),
        rejected=result.rejected,
    )
    logger.info(
        "read %s: %d December cells, %d kept, %d rejected",
        source.path.name,
        result.rows_read,
        len(result.kept),
        len(result.rejected),
    )
    return result


def _read_table(path: Path) -> _CsvTable:
    """Split the CSV into metadata rows and data rows, keeping line numbers."""
    metadata: dict[str, list[str]] = {}
    data_rows: list[tuple[int, list[str]]] = []
    with reading(path, "CSV file", encoding_note=_ENCODING_NOTE):
        text = path.read_bytes().decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""))
        previous_line = 0
        for row in reader:
            first_line = previous_line + 1
            previous_line = reader.line_num
            label = row[0].strip() if row else ""
            if _PERIOD.match(label):
                data_rows.append((first_line, row))
            elif not data_rows and label:
                metadata[label] = row
    if "Name" not in metadata or not data_rows:
        raise SourceFormatError(
            f"{path}: expected a `Name` metadata row and `YYYY-MM` data rows as in a "
            f"Wind export, found metadata rows {list(metadata)} and "
            f"{len(data_rows)} data rows; check that this is the CREA power "
            "generation file"
        )

    width = len(metadata["Name"])
    padded = [row[:width] + [""] * (width - len(row)) for _, row in data_rows]
    data = pd.DataFrame(padded, columns=range(1, width + 1), dtype="object")
    data.insert(0, "row_number", [line for line, _ in data_rows])
    data = data.rename(columns={1: "period"})
    duplicated = data["period"].duplicated()
    if duplicated.any():
        raise SourceFormatError(
            f"{path}: period {data.loc[duplicated, 'period'].iloc[0]!r} appears more "
            "than once in column A; remove the duplicate row"
        )
    return _CsvTable(metadata=metadata, data=data, width=width)


def _series_table(table: _CsvTable, path: Path) -> pd.DataFrame:
    """Return one row per series column: variable, province and Time Period."""
    rows = []
    for index in range(2, table.width + 1):
        name = table.metadata["Name"][index - 1].strip()
        letter = column_letter(index)
        _check_frequency_and_unit(table.metadata, index, letter, path)
        variable, province = _parse_series_name(name, letter, path)
        start, end = _time_period(table.metadata, index, letter, path)
        rows.append(
            {
                "column_index": index,
                "column_letter": letter,
                "column_header": table.metadata["Name"][index - 1],
                "variable": variable,
                "province_name": province,
                "period_start": start,
                "period_end": end,
            }
        )
    return pd.DataFrame(rows)


def _parse_series_name(name: str, letter: str, path: Path) -> tuple[str, str]:
    match = _SERIES_NAME.match(name)
    variable = SERIES_PREFIXES.get(match["prefix"]) if match else None
    if variable is None:
        raise SourceFormatError(
            f"{path}: row `Name`, column {letter}: series name {name!r} is not a "
            "known '<measure>: <province>: YTD' series; expected one of the "
            f"measures {list(SERIES_PREFIXES)}. Add its prefix to SERIES_PREFIXES "
            "in ccni_pipeline/sources/power.py"
        )
    return variable, match["province"].strip()


def _check_frequency_and_unit(
    metadata: dict[str, list[str]], index: int, letter: str, path: Path
) -> None:
    frequency = metadata.get("Frequency", [""] * index)[index - 1].strip()
    if frequency != "Month":
        raise SourceFormatError(
            f"{path}: column {letter} has Frequency {frequency!r}, expected 'Month'; "
            "December year-to-date values are annual totals only for monthly series"
        )
    unit = metadata.get("Unit", [""] * index)[index - 1].strip()
    if unit:
        raise SourceFormatError(
            f"{path}: column {letter} has Unit {unit!r} where the reader expects an "
            "empty Unit row and values in 10,000 kWh; check the magnitudes and "
            "update SOURCE_UNITS_PER_100M_KWH in ccni_pipeline/sources/power.py"
        )


def _time_period(
    metadata: dict[str, list[str]], index: int, letter: str, path: Path
) -> tuple[str, str]:
    """Return the series' first and last period ("" when the file has no row)."""
    if "Time Period" not in metadata:
        return "", ""
    text = metadata["Time Period"][index - 1].strip()
    match = _TIME_PERIOD.match(text)
    if match is None:
        raise SourceFormatError(
            f"{path}: column {letter} Time Period {text!r} is not 'YYYY-MM:YYYY-MM'; "
            "fix the metadata row or update ccni_pipeline/sources/power.py"
        )
    return match["start"], match["end"]


def _december_cells(table: _CsvTable, series: pd.DataFrame) -> pd.DataFrame:
    """Return the December cells with values and rejection reasons ("" = keep)."""
    cells = table.data.melt(
        id_vars=["row_number", "period"],
        value_vars=list(series["column_index"]),
        var_name="column_index",
        value_name="cell",
    )
    cells["year"] = cells["period"].str[:4].astype(int)
    cells["month"] = cells["period"].str[5:7].astype(int)
    cells["value"], cells["reason"] = parse_numeric(cells["cell"])

    earlier = cells[cells["month"] < 12]
    positive_before = (
        (earlier["value"] > 0)
        .groupby([earlier["column_index"], earlier["year"]])
        .any()
        .rename("positive_before")
        .reset_index()
    )

    december = cells[cells["month"] == 12].merge(series, on="column_index")
    december = december.merge(positive_before, on=["column_index", "year"], how="left")
    has_positive_before = december["positive_before"].fillna(False).astype(bool)
    is_missing_marker = (december["value"] == 0) & has_positive_before
    # NOTE: a series that starts mid-year (solar: 2016-05) keeps its first December,
    # although that year-to-date value may cover only part of the year.
    has_period = december["period_start"] != ""
    is_outside = has_period & (
        (december["period"] < december["period_start"])
        | (december["period"] > december["period_end"])
    )

    parsed = december["reason"] == ""
    december.loc[parsed & is_missing_marker, "reason"] = MISSING_DECEMBER_REASON
    outside_reason = (
        "period "
        + december["period"]
        + " is outside the series' Time Period "
        + december["period_start"]
        + ":"
        + december["period_end"]
    )
    still_kept = december["reason"] == ""
    december.loc[still_kept & is_outside, "reason"] = outside_reason
    december["value"] = december["value"] / SOURCE_UNITS_PER_100M_KWH
    december = december.merge(
        _latest_positive_month(earlier), on=["column_index", "year"], how="left"
    )
    return december.sort_values(["column_index", "year"], ignore_index=True)


def _latest_positive_month(earlier: pd.DataFrame) -> pd.DataFrame:
    """Return, per series and year, the last month before December with a positive
    year-to-date value: the basis of an estimated annual total."""
    positive = earlier[earlier["value"] > 0].sort_values("month")
    latest = positive.groupby(["column_index", "year"]).tail(1)
    return latest[
        ["column_index", "year", "row_number", "period", "month", "cell", "value"]
    ].rename(
        columns={
            "row_number": "basis_row_number",
            "period": "basis_period",
            "month": "basis_month",
            "cell": "basis_cell",
            "value": "basis_value",
        }
    )


def _estimated_totals(cells: pd.DataFrame, source: SourceFile) -> pd.DataFrame:
    """Estimate the annual total of each series whose December is the missing marker.

    The estimate scales the last positive year-to-date value to twelve months
    (value x 12 / month). It is a kept row whose provenance is that earlier cell
    and whose `value_text` states how it was estimated; the December cell itself
    stays rejected. Wind output has December 0.00 in every province from 2018 on,
    so without this no province would have a non-fossil share for those years.
    """
    # NOTE: scaling year-to-date output to twelve months ignores seasonality; the
    # November-based estimates seen here differ from the national totals by a few %.
    missing = cells[
        (cells["reason"] == MISSING_DECEMBER_REASON) & cells["basis_value"].notna()
    ]
    if missing.empty:
        return pd.DataFrame(columns=RAW_COLUMNS)
    frame = pd.DataFrame(
        {
            "source_id": source.source_id,
            "file_sha256": source.sha256,
            "sheet": "",
            "row_number": missing["basis_row_number"].astype(int),
            "column_letter": missing["column_letter"],
            "column_header": missing["column_header"],
            "original_text": missing["basis_cell"].astype(str),
            "city_name": "",
            "province_name": missing["province_name"],
            "source_city_code": "",
            "year": missing["year"].astype(int),
            "variable": missing["variable"],
        }
    )
    frame = add_row_ids(frame)
    months = missing["basis_month"].astype(int)
    frame["value"] = missing["basis_value"] / SOURCE_UNITS_PER_100M_KWH * 12 / months
    frame["value_text"] = (
        "estimated annual total: "
        + missing["basis_period"]
        + " year-to-date x 12/"
        + months.astype(str)
        + " (December cell is the missing-value marker)"
    )
    frame["unit"] = UNIT
    return frame[RAW_COLUMNS].reset_index(drop=True)


def _split_cells(cells: pd.DataFrame, source: SourceFile) -> ReadResult:
    frame = pd.DataFrame(
        {
            "source_id": source.source_id,
            "file_sha256": source.sha256,
            "sheet": "",
            "row_number": cells["row_number"].astype(int),
            "column_letter": cells["column_letter"],
            "column_header": cells["column_header"],
            "original_text": cells["cell"].astype(str),
            "city_name": "",
            "province_name": cells["province_name"],
            "source_city_code": "",
            "year": cells["year"].astype(int),
            "variable": cells["variable"],
        }
    )
    frame = add_row_ids(frame)
    is_kept = cells["reason"] == ""

    kept = frame[is_kept].assign(
        value=cells.loc[is_kept, "value"], value_text="", unit=UNIT
    )
    rejected = frame[~is_kept].assign(
        stage="read", reason=cells.loc[~is_kept, "reason"]
    )
    return ReadResult(
        kept=kept[RAW_COLUMNS].reset_index(drop=True),
        rejected=rejected[REJECTED_COLUMNS].reset_index(drop=True),
    )


def province_non_fossil_share(kept: pd.DataFrame) -> pd.DataFrame:
    """Compute the non-fossil share of generation per province and year, in %.

    share = (hydro + wind + nuclear + solar) / (thermal + hydro + wind + nuclear +
    solar) x 100, from the kept rows of `read_province_power_generation`. A
    technology that the file has no column for in a province (nuclear in Beijing)
    counts as 0. A technology that has a column but no kept value for that year
    (a rejected December cell) makes the share NaN and is listed in
    `missing_variables`, because leaving it out would overstate or understate the
    share.

    Args:
        kept: Kept raw rows with the `power_gen_*` variables.

    Returns:
        One row per province and year: `province_name`, `year`,
        `non_fossil_share_pct`, `input_row_ids` (list of the raw_row_ids used) and
        `missing_variables` (list of variable names).

    Raises:
        ValueError: `kept` has more than one row for a province, year and variable.
    """
    generation = kept[kept["variable"].isin(GENERATION_VARIABLES)]
    keys = ["province_name", "year", "variable"]
    duplicated = generation.duplicated(keys)
    if duplicated.any():
        first = generation.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(
            f"more than one kept row for {first}; pass the kept frame of a single "
            "read_province_power_generation call"
        )

    index = ["province_name", "year"]
    values = generation.pivot(index=index, columns="variable", values="value")
    values = values.reindex(columns=GENERATION_VARIABLES)
    row_ids = generation.pivot(index=index, columns="variable", values="raw_row_id")
    row_ids = row_ids.reindex(columns=GENERATION_VARIABLES)

    reported = _reported_technologies(generation, values.index)
    missing = reported & values.isna()
    non_fossil = values[NON_FOSSIL_VARIABLES].sum(axis=1)
    total = non_fossil + values[THERMAL].fillna(0)
    # NOTE: wind December values are 0.00 (rejected) for 2018-2024 in all 30 wind
    # series, so from this file alone the share is NaN for those years except Tibet.
    share = (non_fossil / total * 100).where(~missing.any(axis=1) & (total > 0))

    result = pd.DataFrame({"non_fossil_share_pct": share})
    result["input_row_ids"] = _lists_by_row(row_ids.notna(), row_ids)
    result["missing_variables"] = _lists_by_row(missing, None)
    return result.reset_index()


def _reported_technologies(
    generation: pd.DataFrame, index: pd.MultiIndex
) -> pd.DataFrame:
    """Return a boolean frame, True where the file has that province and variable."""
    pairs = generation[["province_name", "variable"]].drop_duplicates()
    pairs = pairs.assign(reported=True).pivot(
        index="province_name", columns="variable", values="reported"
    )
    pairs = pairs.reindex(columns=GENERATION_VARIABLES).fillna(False).astype(bool)
    provinces = index.get_level_values("province_name")
    return pd.DataFrame(
        pairs.loc[provinces].to_numpy(), index=index, columns=GENERATION_VARIABLES
    )


def _lists_by_row(mask: pd.DataFrame, labels: pd.DataFrame | None) -> pd.Series:
    """Return, per row, the list of labels (or column names) where `mask` is True."""
    stacked = mask.stack()
    selected = stacked[stacked]
    if labels is None:
        items = pd.Series(
            selected.index.get_level_values(-1), index=selected.index, dtype="object"
        )
    else:
        items = labels.stack().loc[selected.index]
    grouped = items.groupby(level=list(range(mask.index.nlevels))).agg(list)
    return grouped.reindex(mask.index).map(
        lambda value: value if isinstance(value, list) else []
    )
