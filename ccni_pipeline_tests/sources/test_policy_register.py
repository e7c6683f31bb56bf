"""Tests of the policy register of city peak and neutrality targets.

Values were looked up by hand in the compiled CSV
(`city_climate_targets_compiled/city_climate_targets.csv`, header = row 1) and in
its SOURCE.md.
"""

import csv
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ccni_pipeline.sources.policy_register import (
    CURRENT_TARGET_COLUMNS,
    REGISTER_PATH,
    PolicyRegisterError,
    current_targets,
    load_policy_register,
    reviewed_cities,
    undetermined_targets,
)

COMPILED_CSV = "city_climate_targets_compiled/city_climate_targets.csv"
SOURCE_MD = "city_climate_targets_compiled/SOURCE.md"
COMPILED_SOURCE_ID = "city_climate_targets"
NOTES_SOURCE_ID = "city_climate_targets_source_md"

# Cut-off of edition E is 31 December of year E - 1.
CUTOFF_2022 = date(2021, 12, 31)
CUTOFF_2023 = date(2022, 12, 31)
CUTOFF_2024 = date(2023, 12, 31)

SHANGHAI = "310000"
WUXI = "320200"
NANJING = "320100"
XIAMEN = "350200"
ZHENGZHOU = "410100"
GUANGZHOU = "440100"
CHENGDU = "510100"
BEIJING = "110000"


@pytest.fixture(scope="module")
def register():
    return load_policy_register()


@pytest.fixture(scope="module")
def compiled_rows(real_dir) -> list[list[str]]:
    """All rows of the compiled CSV as the csv module reads them, header first."""
    with (real_dir / COMPILED_CSV).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _target(register, cutoff: date, city_code: str, commitment: str) -> dict | None:
    targets = current_targets(register, cutoff)
    match = targets[
        (targets["city_code"] == city_code) & (targets["commitment"] == commitment)
    ]
    assert len(match) <= 1
    return None if match.empty else match.iloc[0].to_dict()


def test_register_row_counts(register):
    assert len(register) == 56
    assert register["city_code"].nunique() == 47
    from_csv = register[register["source_id"] == COMPILED_SOURCE_ID]
    assert sorted(from_csv["source_row"]) == list(range(2, 38))
    from_notes = register[register["source_id"] == NOTES_SOURCE_ID]
    assert (from_notes["commitment"] == "peak").sum() == 6
    assert (from_notes["commitment"] == "review").sum() == 14


def test_register_columns_and_types(register):
    assert list(register.columns[:3]) == ["city_code", "city_name_zh", "commitment"]
    assert str(register["target_year"].dtype) == "Int64"
    assert register["register_row"].tolist() == list(range(2, 58))


def test_compiled_csv_shanghai_rows(compiled_rows):
    header = compiled_rows[0]
    plan = dict(zip(header, compiled_rows[4], strict=True))
    press = dict(zip(header, compiled_rows[5], strict=True))
    assert (plan["city_name_zh"], plan["target_year"]) == ("上海市", "2030")
    assert plan["date_published"] == "2022-07-08"
    assert (press["city_name_zh"], press["target_year"]) == ("上海市", "2025")
    assert press["date_published"] == "2021-01-27"


def test_shanghai_press_statement_counts_2021(register):
    target = _target(register, CUTOFF_2022, SHANGHAI, "peak")
    assert target is not None
    assert target["target_year"] == 2025
    assert target["status"] == "announced"
    assert target["date_announced"] == "2021-01-27"
    expected_url = "http://m.fzxysj.com/sylm/jsbd/202101/t20210127_6134640.html"
    assert target["url"] == expected_url


@pytest.mark.parametrize("cutoff", [CUTOFF_2023, CUTOFF_2024])
def test_shanghai_later_plan_replaces_2025(register, cutoff):
    target = _target(register, cutoff, SHANGHAI, "peak")
    assert target is not None
    assert target["target_year"] == 2030
    assert target["status"] == "plan_published"
    assert target["date_announced"] == "2022-07-08"
    assert target["url"] == "https://wenku.solarbe.com/p-29543.html"


def test_current_targets_columns(register):
    targets = current_targets(register, CUTOFF_2024)
    assert list(targets.columns) == CURRENT_TARGET_COLUMNS
    assert not targets.duplicated(["city_code", "commitment"]).any()


def test_drafting_entry_not_a_target(register):
    # 无锡, compiled row 28: drafting, announced 2021-05-19.
    assert _target(register, CUTOFF_2022, WUXI, "peak") is None
    assert WUXI in reviewed_cities(register, CUTOFF_2022)
    assert WUXI not in set(undetermined_targets(register, CUTOFF_2022)["city_code"])


def test_beijing_drafting_neutrality_ignored(register):
    # 北京 neutrality 2050, compiled row 3, is drafting, but its peak plan counts.
    assert _target(register, CUTOFF_2024, BEIJING, "neutrality") is None
    assert _target(register, CUTOFF_2024, BEIJING, "peak")["target_year"] == 2030


def test_entry_after_cutoff_not_counting(register):
    # 广州, compiled row 14: plan dated 2023-03-02.
    assert _target(register, CUTOFF_2023, GUANGZHOU, "peak") is None
    assert _target(register, CUTOFF_2024, GUANGZHOU, "peak")["target_year"] == 2030


def test_later_entry_leaves_city_reviewed(register):
    # 南京's only entry, compiled row 15, is dated 2024-06-10.
    assert _target(register, CUTOFF_2024, NANJING, "peak") is None
    assert NANJING in reviewed_cities(register, CUTOFF_2024)


def test_month_only_date_counts_from_month_end(register):
    # 厦门, compiled row 12: date_published 2022-01.
    assert _target(register, date(2022, 1, 30), XIAMEN, "peak") is None
    assert _target(register, date(2022, 1, 31), XIAMEN, "peak")["target_year"] == 2030


def test_undated_entry_is_undetermined(register):
    # 成都, compiled row 19: date_published is empty.
    for cutoff in (CUTOFF_2022, CUTOFF_2023, CUTOFF_2024, date(2030, 12, 31)):
        assert _target(register, cutoff, CHENGDU, "peak") is None
    undetermined = undetermined_targets(register, CUTOFF_2024)
    chengdu = undetermined[undetermined["city_code"] == CHENGDU]
    assert chengdu["commitment"].tolist() == ["peak"]


def test_shanghai_neutrality_undetermined(register):
    # 上海 neutrality 2060, compiled row 7, has no date, but its peak entry counts.
    undetermined = undetermined_targets(register, CUTOFF_2024)
    shanghai = undetermined[undetermined["city_code"] == SHANGHAI]
    assert shanghai["commitment"].tolist() == ["neutrality"]


def test_review_row_covers_until_review_date(register):
    # 郑州 is listed as not found, in a review of 2026-12-04.
    assert ZHENGZHOU in reviewed_cities(register, CUTOFF_2024)
    assert ZHENGZHOU in reviewed_cities(register, date(2026, 12, 4))
    assert ZHENGZHOU not in reviewed_cities(register, date(2026, 12, 31))
    assert _target(register, CUTOFF_2024, ZHENGZHOU, "peak") is None


@pytest.mark.parametrize(
    ("cutoff", "peak_count", "neutrality_count"),
    [(CUTOFF_2022, 2, 0), (CUTOFF_2023, 9, 0), (CUTOFF_2024, 20, 1)],
)
def test_counts_by_cutoff(register, cutoff, peak_count, neutrality_count):
    counts = current_targets(register, cutoff)["commitment"].value_counts()
    assert counts.get("peak", 0) == peak_count
    assert counts.get("neutrality", 0) == neutrality_count


def test_targets_at_edition_2022_cutoff(register):
    targets = current_targets(register, CUTOFF_2022)
    # 上海 2025 (2021-01-27) and 武汉 2022 (report month 2018-01).
    assert targets["city_code"].tolist() == [SHANGHAI, "420100"]
    assert targets["target_year"].tolist() == [2025, 2022]


def test_source_rows_match_compiled_csv(register, compiled_rows):
    header = compiled_rows[0]
    entries = register[register["source_id"] == COMPILED_SOURCE_ID]
    for entry in entries.itertuples(index=False):
        compiled = dict(zip(header, compiled_rows[entry.source_row - 1], strict=True))
        row = f"register row {entry.register_row}"
        assert compiled["city_name_zh"] == entry.city_name_zh, row
        assert compiled["commitment"] == entry.commitment, row
        year = "" if pd.isna(entry.target_year) else str(entry.target_year)
        assert compiled["target_year"] == year, row
        assert compiled["status"] == entry.status, row
        assert compiled["source_url"] == entry.url, row
        assert compiled["date_published"] == entry.date_announced, row


def test_source_rows_match_notes(register, real_dir):
    lines = (real_dir / SOURCE_MD).read_text(encoding="utf-8").splitlines()
    entries = register[register["source_id"] == NOTES_SOURCE_ID]
    for entry in entries.itertuples(index=False):
        line = lines[entry.source_row - 1]
        row = f"register row {entry.register_row}"
        assert entry.city_name_zh.removesuffix("市") in line, row
        assert entry.url in line, row
        day = entry.date_announced
        assert day in line or day.replace("-", "") in line, row


def test_notes_line_of_not_found_cities(real_dir):
    lines = (real_dir / SOURCE_MD).read_text(encoding="utf-8").splitlines()
    assert lines[61] == "### Not found in the stored corpora"
    assert lines[62].startswith("郑州, 哈尔滨, 长春, 呼和浩特")


def _write_register(tmp_path: Path, edit) -> Path:
    with REGISTER_PATH.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    edit(rows)
    path = tmp_path / "policy_register.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def _set_cell(row_number: int, column: str, value: str):
    def edit(rows):
        rows[row_number - 1][rows[0].index(column)] = value

    return edit


def test_committed_register_row_2_is_beijing():
    with REGISTER_PATH.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:4] == ["110000", "北京市", "peak", "2030"]
    assert rows[16][:4] == ["310000", "上海市", "peak", "2030"]


def test_rejects_bad_year(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "target_year", "1999"))
    with pytest.raises(PolicyRegisterError) as error:
        load_policy_register(path)
    message = str(error.value)
    assert "row 2 (110000 北京市, peak)" in message
    assert (
        "invalid target_year: expected empty or a year in 2020..2100 (got '1999')"
        in message
    )


def test_rejects_missing_url(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "url", ""))
    with pytest.raises(PolicyRegisterError) as error:
        load_policy_register(path)
    message = str(error.value)
    assert "row 2 (110000 北京市, peak)" in message
    assert "missing or invalid url" in message


def test_rejects_non_http_url(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "url", "ftp://example.org/a"))
    with pytest.raises(PolicyRegisterError, match="missing or invalid url"):
        load_policy_register(path)


def test_rejects_duplicate_entry(tmp_path):
    path = _write_register(tmp_path, lambda rows: rows.append(list(rows[16])))
    with pytest.raises(PolicyRegisterError) as error:
        load_policy_register(path)
    message = str(error.value)
    assert "row 17 (310000 上海市, peak): duplicate entry" in message
    assert "row 58 (310000 上海市, peak): duplicate entry" in message


def test_rejects_same_month_and_day(tmp_path):
    # 厦门 2030 is dated 2022-01, and a copy dated 2022-01-31 is the same day.
    def edit(rows):
        extra = list(rows[29])
        extra[rows[0].index("date_announced")] = "2022-01-31"
        rows.append(extra)

    path = _write_register(tmp_path, edit)
    with pytest.raises(PolicyRegisterError, match="row 30 \\(350200 厦门市, peak\\)"):
        load_policy_register(path)


def test_rejects_unknown_status(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "status", "done"))
    with pytest.raises(PolicyRegisterError, match="invalid status: expected one of"):
        load_policy_register(path)


def test_rejects_impossible_date(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "date_announced", "2022-02-30"))
    with pytest.raises(PolicyRegisterError, match="got '2022-02-30'"):
        load_policy_register(path)


def test_rejects_name_not_matching_code(tmp_path):
    path = _write_register(tmp_path, _set_cell(2, "city_name_zh", "天津市"))
    with pytest.raises(PolicyRegisterError, match="city_name_zh is not its name"):
        load_policy_register(path)


def test_rejects_review_row_with_url(tmp_path):
    # Row 8 is 呼和浩特's review row.
    path = _write_register(tmp_path, _set_cell(8, "url", "https://example.org/"))
    with pytest.raises(
        PolicyRegisterError, match="row 8 \\(150100 呼和浩特市, review\\)"
    ):
        load_policy_register(path)


def test_rejects_missing_column(tmp_path):
    path = _write_register(tmp_path, lambda rows: [row.pop() for row in rows])
    with pytest.raises(PolicyRegisterError, match="missing \\['note'\\]"):
        load_policy_register(path)
