"""The curated policy register of city carbon-peak and carbon-neutrality targets.

The register `ccni_pipeline/reference/policy_register.csv` is built by hand from the
compiled target CSV (source id `city_climate_targets`) and its notes, following the
rules in `policy_register.md` next to it. This module loads and validates it, and
selects what counts for an edition:

- `load_policy_register` reads the file, validates every row with the pandera model
  `PolicyRegisterRows` and raises `PolicyRegisterError` naming each failing row;
- `current_targets` picks, per city and commitment, the latest statement announced
  by the edition's cut-off date;
- `reviewed_cities` and `undetermined_targets` tell a city that was reviewed and
  has no target (score 0) apart from one whose score is unknown (missing).
"""

import logging
from datetime import date
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from ccni_pipeline.cities.crosswalk import load_cities

logger = logging.getLogger(__name__)

REGISTER_PATH = (
    Path(__file__).resolve().parents[1] / "reference" / "policy_register.csv"
)
REGISTER_COLUMNS = [
    "city_code",
    "city_name_zh",
    "commitment",
    "target_year",
    "status",
    "document_title",
    "issuer",
    "url",
    "date_announced",
    "date_reviewed",
    "source_id",
    "source_row",
    "note",
]
TARGET_COMMITMENTS = ("peak", "neutrality")
REVIEW_COMMITMENT = "review"
STATUSES = ("plan_published", "announced", "drafting", "peaked", "reviewed_none")
DRAFTING_STATUS = "drafting"
REVIEWED_NONE_STATUS = "reviewed_none"
TARGET_YEAR_MIN = 2020
TARGET_YEAR_MAX = 2100
CURRENT_TARGET_COLUMNS = [
    "city_code",
    "commitment",
    "target_year",
    "status",
    "url",
    "date_announced",
    "register_row",
]
# The header is row 1 of the file, so data row i (0-based) is file row i + 2.
FIRST_DATA_ROW = 2

_DAY = r"\d{4}-\d{2}-\d{2}"
_MONTH = r"\d{4}-\d{2}"


class PolicyRegisterError(ValueError):
    """The policy register has a row or column that breaks its rules."""


def latest_announcement_dates(text: pd.Series) -> pd.Series:
    """Return the latest day each `date_announced` text can stand for.

    A day (`2022-07-08`) gives that day and a month (`2022-01`) its last day
    (2022-01-31), so a statement known only by its month never counts before it may
    have been made. Empty or unparseable text gives NaT.
    """
    days, month_starts = _parse_announcement_dates(text)
    return days.fillna(month_starts + pd.offsets.MonthEnd(0))


def _earliest_announcement_dates(text: pd.Series) -> pd.Series:
    """Return the earliest day each `date_announced` text can stand for."""
    days, month_starts = _parse_announcement_dates(text)
    return days.fillna(month_starts)


def _parse_announcement_dates(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (day dates, first days of month-only dates), NaT elsewhere."""
    days = pd.to_datetime(
        text.where(text.str.fullmatch(_DAY)), format="%Y-%m-%d", errors="coerce"
    )
    month_starts = pd.to_datetime(
        text.where(text.str.fullmatch(_MONTH)), format="%Y-%m", errors="coerce"
    )
    return days, month_starts


def _is_target(frame: pd.DataFrame) -> pd.Series:
    return frame["commitment"].isin(TARGET_COMMITMENTS)


def _is_date_text(text: pd.Series) -> pd.Series:
    return latest_announcement_dates(text).notna()


class PolicyRegisterRows(pa.DataFrameModel):
    """Rows of policy_register.csv as read, every cell as text."""

    city_code: Series[str]
    city_name_zh: Series[str]
    commitment: Series[str]
    target_year: Series[str]
    status: Series[str]
    document_title: Series[str]
    issuer: Series[str]
    url: Series[str]
    date_announced: Series[str]
    date_reviewed: Series[str]
    source_id: Series[str]
    source_row: Series[str]
    note: Series[str]

    class Config:
        strict = True

    @pa.check("city_code", error="invalid city_code: expected a 6-digit division code")
    def city_code_format(cls, codes):  # noqa: N805
        return codes.str.fullmatch(r"\d{6}")

    @pa.check(
        "commitment", error="invalid commitment: expected peak, neutrality or review"
    )
    def commitment_known(cls, values):  # noqa: N805
        return values.isin([*TARGET_COMMITMENTS, REVIEW_COMMITMENT])

    @pa.check(
        "target_year",
        error=f"invalid target_year: expected empty or a year in "
        f"{TARGET_YEAR_MIN}..{TARGET_YEAR_MAX}",
    )
    def target_year_range(cls, years):  # noqa: N805
        numbers = pd.to_numeric(years.where(years.str.fullmatch(r"\d{4}")))
        in_range = numbers.between(TARGET_YEAR_MIN, TARGET_YEAR_MAX)
        return (years == "") | in_range

    @pa.check("status", error=f"invalid status: expected one of {', '.join(STATUSES)}")
    def status_known(cls, values):  # noqa: N805
        return values.isin(STATUSES)

    @pa.check(
        "date_announced",
        error="invalid date_announced: expected empty, YYYY-MM or YYYY-MM-DD",
    )
    def date_announced_format(cls, text):  # noqa: N805
        return (text == "") | _is_date_text(text)

    @pa.check(
        "date_reviewed", error="invalid date_reviewed: expected a date YYYY-MM-DD"
    )
    def date_reviewed_format(cls, text):  # noqa: N805
        return text.str.fullmatch(_DAY) & _is_date_text(text)

    @pa.check("source_id", error="missing source_id: name the source of the entry")
    def source_id_present(cls, values):  # noqa: N805
        return values.str.strip() != ""

    @pa.check(
        "source_row", error="invalid source_row: expected a row number of 1 or more"
    )
    def source_row_number(cls, values):  # noqa: N805
        return values.str.fullmatch(r"[1-9]\d*")

    @pa.dataframe_check(
        error="missing or invalid url: a peak or neutrality entry needs the http(s) "
        "URL of the page where the statement was seen"
    )
    def target_has_url(cls, frame):  # noqa: N805
        return ~_is_target(frame) | frame["url"].str.fullmatch(r"https?://\S+")

    @pa.dataframe_check(
        error="missing document_title: a peak or neutrality entry needs the title "
        "or number of its document"
    )
    def target_has_document(cls, frame):  # noqa: N805
        return ~_is_target(frame) | (frame["document_title"].str.strip() != "")

    @pa.dataframe_check(
        error="invalid review row: it records that nothing was found, so its status is "
        "reviewed_none and target_year, document_title, url and date_announced "
        "are empty"
    )
    def review_row_empty(cls, frame):  # noqa: N805
        filled = frame[["target_year", "document_title", "url", "date_announced"]]
        is_empty = (filled == "").all(axis=1)
        is_review = frame["commitment"] == REVIEW_COMMITMENT
        return ~is_review | (is_empty & (frame["status"] == REVIEWED_NONE_STATUS))

    @pa.dataframe_check(
        error="invalid status for the commitment: reviewed_none belongs on a review "
        "row, and peaked on a peak row"
    )
    def status_fits_commitment(cls, frame):  # noqa: N805
        reviewed_none = frame["status"] == REVIEWED_NONE_STATUS
        peaked = frame["status"] == "peaked"
        is_review = frame["commitment"] == REVIEW_COMMITMENT
        return (reviewed_none == is_review) & (
            ~peaked | (frame["commitment"] == "peak")
        )

    @pa.dataframe_check(
        error="missing note: an entry with an empty date_announced must say in its "
        "note why the date is unknown"
    )
    def undated_has_note(cls, frame):  # noqa: N805
        undated = _is_target(frame) & (frame["date_announced"] == "")
        return ~undated | (frame["note"].str.strip() != "")

    @pa.dataframe_check(error="invalid date_announced: later than date_reviewed")
    def announced_before_review(cls, frame):  # noqa: N805
        # A month-only date passes when its month starts by the review day.
        earliest = _earliest_announcement_dates(frame["date_announced"])
        reviewed = pd.to_datetime(
            frame["date_reviewed"], format="%Y-%m-%d", errors="coerce"
        )
        return earliest.isna() | reviewed.isna() | (earliest <= reviewed)

    @pa.dataframe_check(
        error="duplicate entry: another entry has the same city_code, commitment and "
        "date_announced, so neither is the latest statement. Merge them or correct "
        "a date"
    )
    def one_entry_per_date(cls, frame):  # noqa: N805
        keys = frame[["city_code", "commitment"]].assign(
            announced=latest_announcement_dates(frame["date_announced"])
        )
        return ~keys.duplicated(keep=False)

    @pa.dataframe_check(
        error="invalid review row: a city with a review row (nothing found) must have "
        "no other entry"
    )
    def review_row_alone(cls, frame):  # noqa: N805
        reviewed_none = frame.loc[frame["commitment"] == REVIEW_COMMITMENT, "city_code"]
        rows_per_city = frame["city_code"].map(frame["city_code"].value_counts())
        return ~frame["city_code"].isin(reviewed_none) | (rows_per_city == 1)

    @pa.dataframe_check(
        error="city_code not found in cities.csv, or city_name_zh is not its name there"
    )
    def city_name_matches_code(cls, frame):  # noqa: N805
        names = load_cities().set_index("city_code")["name_zh"]
        return frame["city_code"].map(names) == frame["city_name_zh"]


def load_policy_register(path: Path | None = None) -> pd.DataFrame:
    """Read and validate the policy register.

    Args:
        path: The register CSV; the committed `REGISTER_PATH` when None.

    Returns:
        The rows in file order with the columns of `REGISTER_COLUMNS`, text as
        stored ("" for an empty cell), `target_year` as Int64 (NA when empty),
        `source_row` as int, and two more: `register_row` (the 1-based row of the
        file, header = 1) and `date_announced_latest` (the latest day the statement
        may have been made, see `latest_announcement_dates`; NaT when unknown).

    Raises:
        PolicyRegisterError: The header differs from `REGISTER_COLUMNS`, or rows
            break the rules; the message names every failing row and rule.
    """
    path = REGISTER_PATH if path is None else Path(path)
    try:
        table = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except pd.errors.ParserError as error:
        raise PolicyRegisterError(
            f"{path}: not a valid CSV file ({error}); check the quoting of that line"
        ) from error
    _check_header(table, path)
    try:
        PolicyRegisterRows.validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise PolicyRegisterError(_describe_failures(errors, table, path)) from None

    register = table.assign(
        target_year=pd.to_numeric(table["target_year"]).astype("Int64"),
        source_row=table["source_row"].astype(int),
        register_row=table.index + FIRST_DATA_ROW,
        date_announced_latest=latest_announcement_dates(table["date_announced"]),
    )
    logger.info(
        "read %s: %d entries for %d cities, %d without a known date",
        path.name,
        len(register),
        register["city_code"].nunique(),
        int((_is_target(register) & register["date_announced_latest"].isna()).sum()),
    )
    return register


def _check_header(table: pd.DataFrame, path: Path) -> None:
    columns = list(table.columns)
    if columns == REGISTER_COLUMNS:
        return
    missing = [column for column in REGISTER_COLUMNS if column not in columns]
    extra = [column for column in columns if column not in REGISTER_COLUMNS]
    raise PolicyRegisterError(
        f"{path}: header {columns} does not match the register columns; missing "
        f"{missing}, unexpected {extra}. Write the header as "
        f"{','.join(REGISTER_COLUMNS)}"
    )


def _describe_failures(
    errors: pa.errors.SchemaErrors, table: pd.DataFrame, path: Path
) -> str:
    """Return one line per failing row and rule, in file row order."""
    cases = errors.failure_cases.dropna(subset=["index"])
    cases = cases.assign(index=cases["index"].astype(int))
    cases = cases.drop_duplicates(["index", "check"]).sort_values(["index", "check"])
    lines = [_describe_case(case, table) for case in cases.itertuples(index=False)]
    return (
        f"{path}: {len(lines)} problem(s) in the policy register. Fix these rows "
        "and reload:\n" + "\n".join(lines)
    )


def _describe_case(case, table: pd.DataFrame) -> str:
    row = table.loc[case.index]
    where = (
        f"row {case.index + FIRST_DATA_ROW} "
        f"({row['city_code']} {row['city_name_zh']}, {row['commitment']})"
    )
    is_column_check = case.schema_context == "Column"
    value = f" (got {case.failure_case!r})" if is_column_check else ""
    return f"  {where}: {case.check}{value}"


def current_targets(register: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Select, per city and commitment, the statement that counts at a cut-off.

    That is the latest peak or neutrality entry announced on or before `cutoff`,
    even when it is less ambitious than an earlier one. Drafting entries are never
    a target, and undated entries pass no cut-off.

    Args:
        register: The frame returned by `load_policy_register`.
        cutoff: The edition's cut-off date, 31 December of the year before the
            edition.

    Returns:
        One row per city and commitment in the columns of `CURRENT_TARGET_COLUMNS`,
        sorted by city_code and commitment.
    """
    result = _latest_entries(register, cutoff)
    logger.info(
        "targets counting at %s: %s",
        cutoff,
        result["commitment"].value_counts().to_dict(),
    )
    return result


def _latest_entries(register: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Return the latest non-drafting target entry per city and commitment."""
    candidates = register[
        _is_target(register)
        & (register["status"] != DRAFTING_STATUS)
        & (register["date_announced_latest"] <= pd.Timestamp(cutoff))
    ]
    latest = (
        candidates.sort_values(["date_announced_latest", "register_row"])
        .groupby(["city_code", "commitment"])
        .tail(1)
    )
    result = latest[CURRENT_TARGET_COLUMNS].sort_values(["city_code", "commitment"])
    return result.reset_index(drop=True)


def reviewed_cities(register: pd.DataFrame, cutoff: date) -> set[str]:
    """Return the codes of the cities whose review covers a cut-off.

    A review made on `date_reviewed` looked for statements up to that day, so it
    covers every cut-off on or before it. A city with an entry announced by the
    cut-off (drafting included) was reviewed too. A reviewed city without a target
    counting at the cut-off scores 0, unless `undetermined_targets` lists it.

    Args:
        register: The frame returned by `load_policy_register`.
        cutoff: The edition's cut-off date.
    """
    cutoff_day = pd.Timestamp(cutoff)
    review_dates = pd.to_datetime(register["date_reviewed"], format="%Y-%m-%d")
    review_covers = review_dates >= cutoff_day
    announced = _is_target(register) & (register["date_announced_latest"] <= cutoff_day)
    return set(register.loc[review_covers | announced, "city_code"])


def undetermined_targets(register: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """List the city and commitment pairs whose score is unknown at a cut-off.

    A pair is unknown when it has an undated entry that is not drafting and no
    entry counts at the cut-off. The statement exists but may predate the cut-off,
    so the score is missing, not 0.

    NOTE: an undated entry next to a dated one that counts is ignored, so the dated
    one wins even if the undated statement came later. No register row has that
    case today.

    Args:
        register: The frame returned by `load_policy_register`.
        cutoff: The edition's cut-off date.

    Returns:
        Columns city_code, commitment and register_row (of the undated entry).
    """
    undated = register[
        _is_target(register)
        & (register["status"] != DRAFTING_STATUS)
        & register["date_announced_latest"].isna()
    ]
    counting = _latest_entries(register, cutoff)[["city_code", "commitment"]]
    merged = undated.merge(
        counting, on=["city_code", "commitment"], how="left", indicator=True
    )
    unknown = merged[merged["_merge"] == "left_only"]
    return unknown[["city_code", "commitment", "register_row"]].reset_index(drop=True)
