"""Indicator formulas on hand-computed cases, in a real DuckDB file.

Each case is a made-up city whose CO2 and real GDP series were chosen so that the
expected value can be worked out by hand; the tables have the warehouse's
column layout, and the same SQL as the pipeline computes the indicators.
"""

import math

import duckdb
import pandas as pd
import pytest

from ccni_pipeline.method.config import load_method
from ccni_pipeline.method.indicators import compute_indicator_values
from ccni_pipeline.method.mann_kendall import exact_p_values, mahonian_counts

YEARS = list(range(2015, 2021))

# city code -> (CO2 Mt 2015..2020, real GDP 2015 and 2020), window 2015-2020
CASES = {
    # dGDP > 0, dCO2 < 0: strong decoupling
    "100100": ([10, 11, 12, 11, 10, 9], (100, 150)),
    # dGDP +50%, dCO2 +39.9%: e = 0.798 < 0.8, weak decoupling
    "100200": ([10, 10.5, 11, 12, 13, 13.99], (100, 150)),
    # dGDP +50%, dCO2 +40%: e = 0.8 exactly, expansive coupling (boundary)
    "100300": ([10, 10.5, 11, 12, 13, 14], (100, 150)),
    # dGDP +50%, dCO2 +60%: e = 1.2 exactly, still expansive coupling
    "100400": ([10, 11, 12, 13, 14, 16], (100, 150)),
    # dGDP +50%, dCO2 +61%: e = 1.22, expansive negative decoupling
    "100500": ([10, 11, 12, 13, 14, 16.1], (100, 150)),
    # dGDP -10%, dCO2 +10%: strong negative decoupling
    "100600": ([10, 10.2, 10.4, 10.6, 10.8, 11], (100, 90)),
    # dGDP -10%, dCO2 -20%: e = 2, recessive decoupling
    "100700": ([10, 9.8, 9.6, 9.4, 9.2, 8], (100, 90)),
    # dGDP -10%, dCO2 -10%: e = 1, recessive coupling
    "100800": ([10, 9.9, 9.8, 9.7, 9.6, 9], (100, 90)),
    # dGDP -10%, dCO2 -5%: e = 0.5, weak negative decoupling
    "100900": ([10, 9.9, 9.8, 9.7, 9.6, 9.5], (100, 90)),
}


def _core_rows() -> pd.DataFrame:
    rows = []
    for code, (co2, (gdp_start, gdp_end)) in CASES.items():
        for year, value in zip(YEARS, co2, strict=True):
            rows.append((code, year, "co2_mt", float(value), "edgar_city_co2"))
            rows.append(
                (code, year, "population_resident_10k", 100.0, "city_population")
            )
        rows.append(
            (code, 2015, "gdp_real_2000_100m_yuan", float(gdp_start), "city_real_gdp")
        )
        rows.append(
            (code, 2020, "gdp_real_2000_100m_yuan", float(gdp_end), "city_real_gdp")
        )
    frame = pd.DataFrame(
        rows, columns=["city_code", "year", "variable", "value", "source_id"]
    )
    frame["value_text"] = ""
    frame["unit"] = ""
    frame["resolution"] = "code"
    frame["raw_row_id"] = [f"{i:016x}" for i in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def values(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("formulas") / "warehouse.duckdb"
    connection = duckdb.connect(str(path))
    for schema in ("ref", "core"):
        connection.execute(f"CREATE SCHEMA {schema}")
    core = _core_rows()
    connection.register("core_frame", core)
    connection.execute("CREATE TABLE core.city_values AS SELECT * FROM core_frame")
    cities = pd.DataFrame(
        {
            "city_code": list(CASES),
            "province_code": ["100000"] * len(CASES),
            "name_zh": list(CASES),
            "level": ["prefecture"] * len(CASES),
            "valid_from": [None] * len(CASES),
            "valid_to": [None] * len(CASES),
        }
    )
    connection.register("cities_frame", cities)
    connection.execute(
        "CREATE TABLE ref.cities AS SELECT city_code, province_code, name_zh, level, "
        "valid_from::INTEGER AS valid_from, valid_to::INTEGER AS valid_to "
        "FROM cities_frame"
    )
    connection.execute(
        "CREATE TABLE core.province_values (province_code VARCHAR, year INTEGER, "
        "variable VARCHAR, value DOUBLE, value_text VARCHAR, unit VARCHAR, "
        "source_id VARCHAR, "
        "raw_row_id VARCHAR)"
    )
    connection.execute(
        "CREATE TABLE ref.pilot_provinces (province_code VARCHAR, province_zh VARCHAR, "
        "batch_year INTEGER, note VARCHAR)"
    )
    result = compute_indicator_values(connection, load_method(), 2022)
    connection.close()
    return result.set_index(["city_code", "indicator_id"])


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("100100", "strong_decoupling"),
        ("100200", "weak_decoupling"),
        ("100300", "expansive_coupling"),
        ("100400", "expansive_coupling"),
        ("100500", "expansive_negative_decoupling"),
        ("100600", "strong_negative_decoupling"),
        ("100700", "recessive_decoupling"),
        ("100800", "recessive_coupling"),
        ("100900", "weak_negative_decoupling"),
    ],
)
def test_tapio_state_at_boundaries(values, code, state):
    assert values.loc[(code, "decoupling"), "category"] == state


def test_tapio_elasticity_value(values):
    # (14 - 10) / 10 = 0.4 over (150 - 100) / 100 = 0.5
    assert values.loc[("100300", "decoupling"), "value"] == pytest.approx(0.8)
    assert values.loc[("100700", "decoupling"), "value"] == pytest.approx(2.0)


def test_tapio_state_scores(values):
    assert values.loc[("100100", "decoupling"), "preset_score"] == 100
    assert values.loc[("100200", "decoupling"), "preset_score"] == 70
    assert values.loc[("100500", "decoupling"), "preset_score"] == 10
    assert values.loc[("100600", "decoupling"), "preset_score"] == 0


def test_co2_growth_is_cagr(values):
    # 10 -> 9 Mt over 5 years: (0.9 ** 0.2 - 1) * 100 = -2.0852 % a year
    expected = (math.pow(0.9, 1 / 5) - 1) * 100
    assert values.loc[("100100", "co2_growth"), "value"] == pytest.approx(expected)
    assert expected == pytest.approx(-2.0852, abs=1e-4)


def test_co2_per_capita(values):
    # 9 Mt / 100 x 10k residents = 9e6 t / 1e6 = 9 t per resident
    assert values.loc[("100100", "co2_per_capita"), "value"] == pytest.approx(9.0)
    assert values.loc[("100100", "co2_per_capita"), "data_year"] == 2020


def test_carbon_intensity(values):
    # 9 Mt / 150 x 100m yuan = 9e6 t / 1.5e6 x 10k yuan = 6 t per 10k yuan
    assert values.loc[("100100", "carbon_intensity"), "value"] == pytest.approx(6.0)


def test_mann_kendall_s_and_state(values):
    # 10, 11, 12, 11, 10, 9: pairs from each year sum to 2, -1, -3, -2, -1, so S = -5
    row = values.loc[("100100", "peak_trend")]
    assert row["value"] == -5
    assert row["category"] == "no_trend_peak_before_end"
    assert row["preset_score"] == 60
    # strictly rising series: S = 15, p = 2/720, significant upward trend
    rising = values.loc[("100500", "peak_trend")]
    assert rising["value"] == 15
    assert rising["category"] == "significant_up"
    assert rising["preset_score"] == 0
    # strictly falling after 2015 with 2020 lowest: 10, 9.8, 9.6, 9.4, 9.2, 8 -> S = -15
    falling = values.loc[("100700", "peak_trend")]
    assert falling["value"] == -15
    assert falling["category"] == "significant_down"
    assert falling["preset_score"] == 100


def test_mann_kendall_exact_threshold():
    table = exact_p_values(6).set_index("s_abs")["p_two_sided"]
    assert table[13] == pytest.approx(12 / 720)
    assert table[11] == pytest.approx(40 / 720)
    assert table[13] < 0.05 < table[11]
    assert mahonian_counts(4) == [1, 3, 5, 6, 5, 3, 1]


def test_missing_indicators_have_reasons(values):
    row = values.loc[("100100", "spending_share")]
    assert bool(row["is_missing"])
    assert "no fiscal source" in row["reason"]
    assert values.loc[("100100", "co2_growth"), "reason"] == ""
