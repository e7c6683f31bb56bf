"""Tests of the provincial power generation reader against the real CREA CSV."""

import csv
import hashlib
import math

import pandas as pd
import pytest

from ccni_pipeline.sources.base import (
    RAW_COLUMNS,
    REJECTED_COLUMNS,
    SourceFile,
    SourceFormatError,
    make_row_id,
)
from ccni_pipeline.sources.power import (
    CONSUMPTION,
    HYDRO,
    MISSING_DECEMBER_REASON,
    NUCLEAR,
    SOLAR,
    THERMAL,
    WIND,
    province_non_fossil_share,
    read_province_power_generation,
)

POWER_CSV = "crea_china_power/csv/power_generation_by_province_and_source.csv"
NATIONAL_CSV = "crea_china_power/csv/generation-consumption-utilization-capacity.csv"


@pytest.fixture(scope="module")
def source(real_dir) -> SourceFile:
    path = real_dir / POWER_CSV
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return SourceFile(source_id="province_power_generation", path=path, sha256=sha256)


@pytest.fixture(scope="module")
def result(source):
    return read_province_power_generation(source)


@pytest.fixture(scope="module")
def shares(result):
    return province_non_fossil_share(result.kept)


def _one_row(frame: pd.DataFrame, province: str, year: int, variable: str) -> pd.Series:
    rows = frame[
        (frame["province_name"] == province)
        & (frame["year"] == year)
        & (frame["variable"] == variable)
    ]
    assert len(rows) == 1, f"expected one {variable} row for {province} {year}"
    return rows.iloc[0]


def _write_csv(tmp_path, lines: list[str]):
    path = tmp_path / "power.csv"
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    return SourceFile("province_power_generation", path, "0" * 64)


def test_columns_follow_contract(result):
    assert list(result.kept.columns) == RAW_COLUMNS
    assert list(result.rejected.columns) == REJECTED_COLUMNS


def _december_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame["value_text"].str.startswith("estimated")]


def test_every_december_cell_is_kept_or_rejected(result):
    # 156 series x 28 Decembers (1997-2024); other months are not candidates.
    kept_december = _december_only(result.kept)
    assert len(kept_december) + len(result.rejected) == 156 * 28
    assert len(kept_december) == 2961
    assert len(result.rejected) == 1407


def test_missing_decembers_get_estimates(result):
    estimates = result.kept[result.kept["value_text"].str.startswith("estimated")]
    marker = result.rejected["reason"] == MISSING_DECEMBER_REASON
    # every December rejected as the missing marker had an earlier positive month
    assert len(estimates) == int(marker.sum())


def test_only_december_rows_are_read(result, source):
    lines = source.path.read_text(encoding="utf-8-sig").splitlines()
    both = pd.concat([_december_only(result.kept), result.rejected])
    # Line 9 is 1997-01 (BOM line 1, eight metadata lines), line 20 is 1997-12.
    assert both["row_number"].min() == 20
    assert both["row_number"].max() == 342
    for row_number, year in both[["row_number", "year"]].itertuples(index=False):
        assert lines[row_number - 1].startswith(f"{year}-12,")


def test_series_counts_per_variable(result):
    both = pd.concat([result.kept, result.rejected])
    series = both.groupby("variable")["column_letter"].nunique().to_dict()
    assert series == {
        THERMAL: 31,
        HYDRO: 30,
        WIND: 30,
        NUCLEAR: 7,
        SOLAR: 27,
        CONSUMPTION: 31,
    }


def test_guangdong_hydro_2020_matches_cell_ax296(result, source):
    row = _one_row(result.kept, "Guangdong", 2020, HYDRO)
    assert row["original_text"] == "1,547,000.00 "
    assert row["value"] == 154.7
    assert row["unit"] == "100 million kWh"
    assert row["row_number"] == 296
    assert row["column_letter"] == "AX"
    assert row["column_header"] == (
        "Output: Hydro Power Generating Capacity: Guangdong: YTD"
    )
    assert row["sheet"] == ""
    assert row["city_name"] == ""
    assert row["raw_row_id"] == make_row_id(source.sha256, "", 296, "AX")


def test_beijing_thermal_2020_matches_cell_b296(result):
    row = _one_row(result.kept, "Beijing", 2020, THERMAL)
    assert row["original_text"] == "4,291,000.00 "
    assert row["value"] == 429.1
    assert row["column_letter"] == "B"


def test_province_name_with_space(result):
    row = _one_row(result.kept, "Inner Mongolia", 2020, THERMAL)
    assert row["original_text"] == "47,820,000.00 "
    assert row["value"] == 4782.0
    assert row["column_letter"] == "F"


def test_unit_is_10k_kwh_by_national_total(result, real_dir):
    # The national export row 2020-12 (line 393) has the Unit row "100 million kwh":
    # consumption R393 "75,110.00 ", thermal U393 "52,798.70 ", hydro V393
    # "12,140.30 ". The provincial values divided by 10,000 must sum to the same.
    national_csv = real_dir / NATIONAL_CSV
    with national_csv.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[5][17:22] == ["100 million kwh"] * 5
    december_2020 = lines[392]
    assert december_2020[0] == "2020-12"
    assert december_2020[17] == "75,110.00 "
    assert december_2020[20] == "52,798.70 "
    assert december_2020[21] == "12,140.30 "

    kept = result.kept[result.kept["year"] == 2020]
    totals = kept.groupby("variable")["value"].sum()
    assert kept["variable"].eq(CONSUMPTION).sum() == 31
    assert totals[CONSUMPTION] == pytest.approx(75110.0)
    assert totals[THERMAL] == pytest.approx(52798.7, rel=1e-5)
    assert totals[HYDRO] == pytest.approx(12140.3, rel=1e-4)

    guangdong = _one_row(result.kept, "Guangdong", 2020, CONSUMPTION)
    assert guangdong["original_text"] == "69,260,000.00 "
    assert guangdong["value"] == 6926.0


def test_december_zero_after_positive_months_is_rejected(result):
    # Beijing wind: 2020-11 (line 295) is "31,000.00 ", 2020-12 is "0.00 ".
    row = _one_row(result.rejected, "Beijing", 2020, WIND)
    assert row["reason"] == MISSING_DECEMBER_REASON
    assert row["original_text"] == "0.00 "
    assert row["row_number"] == 296
    assert row["column_letter"] == "BK"
    assert row["stage"] == "read"


def test_december_zero_after_one_positive_month(result):
    # Tibet thermal 2002-11 (line 79) is "595.00 ", 2002-12 (AA80) is "0.00 ".
    row = _one_row(result.rejected, "Tibet", 2002, THERMAL)
    assert row["reason"] == MISSING_DECEMBER_REASON
    assert row["row_number"] == 80
    assert row["column_letter"] == "AA"


def test_missing_marker_rule_hits_wind_from_2018(result):
    rejected = result.rejected
    marker = rejected[rejected["reason"] == MISSING_DECEMBER_REASON]
    assert len(marker) == 245
    wind_2020 = marker[(marker["variable"] == WIND) & (marker["year"] == 2020)]
    assert len(wind_2020) == 30


def test_whole_year_zero_is_kept(result):
    # Hainan nuclear is 0.00 in every month of 2010 (CU165:CU176), a real zero.
    row = _one_row(result.kept, "Hainan", 2010, NUCLEAR)
    assert row["value"] == 0.0
    assert row["original_text"] == "0.00 "
    assert row["row_number"] == 176
    assert row["column_letter"] == "CU"
    first_year = _one_row(result.kept, "Hainan", 2015, NUCLEAR)
    assert first_year["value"] == 4.3732


def test_december_outside_time_period_is_rejected(result):
    # Beijing consumption has Time Period 2007-12:2024-12; 2006-12 (DW128) is 0.00.
    row = _one_row(result.rejected, "Beijing", 2006, CONSUMPTION)
    assert row["reason"] == (
        "period 2006-12 is outside the series' Time Period 2007-12:2024-12"
    )
    assert row["row_number"] == 128
    assert row["column_letter"] == "DW"
    first_year = _one_row(result.kept, "Beijing", 2007, CONSUMPTION)
    assert first_year["value"] == 667.0


def test_solar_before_2016_is_rejected(result):
    row = _one_row(result.rejected, "Beijing", 2015, SOLAR)
    assert row["reason"] == (
        "period 2015-12 is outside the series' Time Period 2016-05:2024-12"
    )
    assert _one_row(result.kept, "Beijing", 2016, SOLAR)["value"] == 0.7458


def test_bom_and_metadata_rows(source, result):
    assert source.path.read_bytes()[:3] == b"\xef\xbb\xbf"
    headers = set(result.kept["column_header"]) | set(result.rejected["column_header"])
    assert not any(header.startswith("\ufeff") for header in headers)
    assert "Wind" not in set(result.kept["original_text"])
    assert set(result.kept["city_name"]) == {""}


def test_row_ids_are_unique(result):
    ids = pd.concat([result.kept["raw_row_id"], result.rejected["raw_row_id"]])
    assert ids.is_unique


def test_beijing_share_2017_by_hand(result, shares):
    # Line 260: thermal B "3,723,000.00 ", hydro AG "112,000.00 ",
    # wind BK "34,808.00 ", solar CV "9,471.00 "; Beijing has no nuclear column.
    non_fossil = 112_000 + 34_808 + 9_471
    expected = non_fossil / (3_723_000 + non_fossil) * 100
    row = shares[(shares["province_name"] == "Beijing") & (shares["year"] == 2017)]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["non_fossil_share_pct"] == pytest.approx(expected)
    assert row["non_fossil_share_pct"] == pytest.approx(4.0286, abs=1e-4)
    assert row["missing_variables"] == []

    inputs = [
        _one_row(result.kept, "Beijing", 2017, variable)["raw_row_id"]
        for variable in (THERMAL, HYDRO, WIND, SOLAR)
    ]
    assert row["input_row_ids"] == inputs


def test_beijing_wind_2020_is_estimated_from_november(result, shares):
    wind = _one_row(result.kept, "Beijing", 2020, WIND)
    # November 2020 year-to-date BK295 = "31,000.00 " (10,000 kWh) -> 3.1 x 12 / 11
    assert wind["row_number"] == 295
    assert wind["column_letter"] == "BK"
    assert wind["original_text"].strip() == "31,000.00"
    assert wind["value"] == pytest.approx(3.1 * 12 / 11)
    assert wind["value_text"].startswith("estimated annual total: 2020-11")
    row = shares[(shares["province_name"] == "Beijing") & (shares["year"] == 2020)]
    assert not math.isnan(row["non_fossil_share_pct"].iloc[0])


def test_guangdong_share_2017_includes_nuclear(result, shares):
    kept = result.kept
    values = {
        variable: _one_row(kept, "Guangdong", 2017, variable)["value"]
        for variable in (THERMAL, HYDRO, WIND, NUCLEAR, SOLAR)
    }
    non_fossil = values[HYDRO] + values[WIND] + values[NUCLEAR] + values[SOLAR]
    expected = non_fossil / (non_fossil + values[THERMAL]) * 100
    row = shares[(shares["province_name"] == "Guangdong") & (shares["year"] == 2017)]
    assert row["non_fossil_share_pct"].iloc[0] == pytest.approx(expected)
    assert len(row["input_row_ids"].iloc[0]) == 5


def test_share_rejects_duplicate_rows(result):
    kept = result.kept
    doubled = pd.concat([kept, kept.head(1)])
    with pytest.raises(ValueError, match="more than one kept row"):
        province_non_fossil_share(doubled)


def test_unknown_series_raises(tmp_path):
    source = _write_csv(
        tmp_path,
        [
            "Wind,",
            "Name,Output: Geothermal: Tibet: YTD",
            "Frequency,Month",
            "Unit,",
            "2020-12,1.00 ",
        ],
    )
    with pytest.raises(SourceFormatError, match="SERIES_PREFIXES"):
        read_province_power_generation(source)


def test_filled_unit_row_raises(tmp_path):
    source = _write_csv(
        tmp_path,
        [
            "Wind,",
            "Name,Output: Solar: Tibet: YTD",
            "Frequency,Month",
            "Unit,100 million kWh",
            "2020-12,1.00 ",
        ],
    )
    with pytest.raises(SourceFormatError, match="Unit"):
        read_province_power_generation(source)


def test_small_file_line_numbers(tmp_path):
    source = _write_csv(
        tmp_path,
        [
            "Wind,",
            "Name,Output: Solar: Tibet: YTD",
            "Frequency,Month",
            "Unit,",
            "Time Period,2020-11:2020-12",
            '2020-11,"1,000.00 "',
            '2020-12,"2,500.00 "',
        ],
    )
    result = read_province_power_generation(source)
    assert len(result.kept) == 1
    row = result.kept.iloc[0]
    assert row["row_number"] == 7
    assert row["column_letter"] == "B"
    assert row["value"] == 0.25
    assert row["province_name"] == "Tibet"
