"""Edition 2022 end to end on the real files, checked against cells read by hand.

Expected values are recomputed here from cells opened with openpyxl by address,
independently of the pipeline's readers:

- EDGAR CO2 (t), 地级市碳排放强度.xlsx, Sheet1: Beijing G17 (2015) and G22 (2020),
  Shenzhen G4529..G4534 (2015..2020);
- real GDP at 2000 prices, 296个地级市GDP相关数据（以2000年为基期）.xlsx, Sheet1:
  Beijing F449 (2015), F454 (2020); Shenzhen F2561, F2566;
- resident population (10k), 298个地级市人口密度1998-2024年无缺失.xlsx, 面板数据:
  Beijing G24 (2020), Shenzhen G5100 (2020);
- nominal GDP and secondary value added (100m yuan), 2000-2023地级市产业结构.xlsx,
  面板数据2000-2023: Beijing F22/H22 (2020), Shenzhen F4680/H4680 (2020).
"""

import math

import numpy as np
import openpyxl
import pytest

from ccni_pipeline.method.config import load_method

PANEL = "cn_city_panel_gp/raw"
EDGAR = f"{PANEL}/地级市碳排放强度.xlsx"
REAL_GDP = f"{PANEL}/296个地级市GDP相关数据（以2000年为基期）.xlsx"
POPULATION = f"{PANEL}/298个地级市人口密度1998-2024年无缺失.xlsx"
INDUSTRY = f"{PANEL}/2000-2023地级市产业结构.xlsx"

CELLS = {
    "110000": {
        "co2_t": (EDGAR, "Sheet1", [f"G{row}" for row in range(17, 23)]),
        "gdp_real": (REAL_GDP, "Sheet1", ["F449", "F454"]),
        "population": (POPULATION, "面板数据", ["G24"]),
        "industry": (INDUSTRY, "面板数据2000-2023", ["F22", "H22"]),
    },
    "440300": {
        "co2_t": (EDGAR, "Sheet1", [f"G{row}" for row in range(4529, 4535)]),
        "gdp_real": (REAL_GDP, "Sheet1", ["F2561", "F2566"]),
        "population": (POPULATION, "面板数据", ["G5100"]),
        "industry": (INDUSTRY, "面板数据2000-2023", ["F4680", "H4680"]),
    },
}


def read_cells(real_dir, file: str, sheet: str, addresses: list[str]) -> list[float]:
    workbook = openpyxl.load_workbook(real_dir / file, read_only=True, data_only=True)
    try:
        worksheet = workbook[sheet]
        return [float(str(worksheet[address].value).strip()) for address in addresses]
    finally:
        workbook.close()


@pytest.fixture(scope="module")
def hand(real_dir) -> dict[str, dict[str, list[float]]]:
    return {
        code: {name: read_cells(real_dir, *spec) for name, spec in specs.items()}
        for code, specs in CELLS.items()
    }


def test_scores_csv_lists_cities(edition_2022):
    scores = edition_2022.scores
    with_composite = scores[scores["composite"].notna()]
    assert len(with_composite) >= 250
    assert with_composite["composite"].between(0, 100).all()
    assert scores["coverage"].between(0, 1).all()
    assert scores["city_code"].is_unique
    assert list(scores.columns) == [
        "city_code",
        "city_name_zh",
        "city_name_en",
        "province",
        "climate_ambition",
        "low_carbon_status",
        "emission_trend",
        "composite",
        "coverage",
        "rank",
        "method_id",
    ]


def test_beijing_and_shenzhen_ranked(edition_2022):
    scores = edition_2022.scores.set_index("city_code")
    for code, name_en in (("110000", "Beijing"), ("440300", "Shenzhen")):
        assert scores.loc[code, "city_name_en"] == name_en
        assert scores.loc[code, "rank"] >= 1
    assert scores.loc["440300", "city_name_zh"] == "深圳市"


def test_rank_follows_composite(edition_2022):
    ranked = edition_2022.scores.dropna(subset=["rank"]).sort_values("rank")
    assert ranked["rank"].iloc[0] == 1
    assert ranked["composite"].is_monotonic_decreasing
    threshold = load_method().missing_data.min_coverage
    assert (ranked["coverage"] >= threshold - 1e-9).all()
    unranked = edition_2022.scores[edition_2022.scores["rank"].isna()]
    assert (unranked["coverage"] < threshold).all()


@pytest.mark.parametrize("code", ["110000", "440300"])
def test_level_indicators_by_hand(edition_2022, hand, code):
    co2_2020_mt = hand[code]["co2_t"][-1] / 1e6
    population_10k = hand[code]["population"][0]
    gdp_real_2020 = hand[code]["gdp_real"][1]
    gdp_nominal, va_secondary = hand[code]["industry"]

    per_capita = edition_2022.indicator(code, "co2_per_capita")
    assert per_capita["value"] == pytest.approx(
        co2_2020_mt * 1e6 / (population_10k * 1e4)
    )
    assert per_capita["data_year"] == 2020

    intensity = edition_2022.indicator(code, "carbon_intensity")
    assert intensity["value"] == pytest.approx(
        co2_2020_mt * 1e6 / (gdp_real_2020 * 1e4)
    )

    secondary = edition_2022.indicator(code, "secondary_share")
    assert secondary["value"] == pytest.approx(va_secondary / gdp_nominal * 100)


@pytest.mark.parametrize("code", ["110000", "440300"])
def test_trend_indicators_by_hand(edition_2022, hand, code):
    co2 = hand[code]["co2_t"]
    gdp_start, gdp_end = hand[code]["gdp_real"]

    growth = edition_2022.indicator(code, "co2_growth")
    assert growth["value"] == pytest.approx(
        (math.pow(co2[-1] / co2[0], 1 / 5) - 1) * 100
    )
    assert growth["window_start"] == 2015
    assert growth["data_year"] == 2020

    elasticity = ((co2[-1] - co2[0]) / co2[0]) / ((gdp_end - gdp_start) / gdp_start)
    decoupling = edition_2022.indicator(code, "decoupling")
    assert decoupling["value"] == pytest.approx(elasticity)

    s = sum(
        np.sign(co2[j] - co2[i])
        for i in range(len(co2))
        for j in range(i + 1, len(co2))
    )
    assert edition_2022.indicator(code, "peak_trend")["value"] == s


def test_beijing_and_shenzhen_states(edition_2022):
    # Beijing: CO2 fell 2015-2020 while real GDP grew -> strong decoupling (100).
    beijing = edition_2022.indicator("110000", "decoupling")
    assert "strong_decoupling" in beijing["detail"]
    assert beijing["score"] == 100
    # Shenzhen: CO2 +5.7 %, GDP +40.9 %: e = 0.14 -> weak decoupling (70).
    shenzhen = edition_2022.indicator("440300", "decoupling")
    assert "weak_decoupling" in shenzhen["detail"]
    assert shenzhen["score"] == 70
    # Shenzhen's series peaks in 2020 with S = 1: no trend, maximum at the end -> 30.
    assert edition_2022.indicator("440300", "peak_trend")["score"] == 30
    # Beijing's maximum is 2015 with S = 1 (not significant) -> 60.
    assert edition_2022.indicator("110000", "peak_trend")["score"] == 60


def test_policy_indicators(edition_2022):
    assert edition_2022.indicator("440300", "pilot_status")["score"] == 100
    assert edition_2022.indicator("110000", "pilot_status")["score"] == 100
    # 南昌 is a first-batch city pilot only in the 135-row list (Jiangxi is no
    # pilot province, so the row is a city designation); 沈阳 is in that list only
    # through Liaoning's provincial pilot of 2010 (50).
    assert edition_2022.indicator("360100", "pilot_status")["score"] == 100
    assert edition_2022.indicator("210100", "pilot_status")["score"] == 50
    # The Net Zero Tracker gives Beijing net zero 2050 and Shenzhen climate
    # neutral 2060, without announcement dates: the targets stay undetermined.
    for code in ("110000", "440300"):
        neutrality = edition_2022.indicator(code, "neutrality_target")
        assert bool(neutrality["is_missing"])
        assert "no announcement date" in neutrality["reason"]
    # Shenzhen's peak plan (深府〔2023〕84号) came after the 2021-12-31 cut-off, and
    # the city was reviewed, so it scores 0; Shanghai's 2025 statement of
    # 2021-01-27 counts (100), as does Wuhan's 2022 peak year (plan of 2018-01).
    peak = edition_2022.indicator("440300", "peak_target")
    assert not bool(peak["is_missing"])
    assert peak["score"] == 0
    shanghai = edition_2022.indicator("310000", "peak_target")
    assert shanghai["value"] == 2025
    assert shanghai["score"] == 100
    assert edition_2022.indicator("420100", "peak_target")["score"] == 100
    # Chengdu's only peak statement is undated, so it is missing, with that reason
    chengdu = edition_2022.indicator("510100", "peak_target")
    assert bool(chengdu["is_missing"])
    assert "no announcement date" in chengdu["reason"]


def test_non_fossil_share_is_marked_proxy(edition_2022):
    row = edition_2022.indicator("440300", "non_fossil_share")
    assert bool(row["is_proxy"])
    assert "proxy=province" in row["detail"]


def test_min_max_score_by_hand(edition_2022):
    values = edition_2022.indicators
    share = values[
        (values["indicator_id"] == "secondary_share") & ~values["is_missing"]
    ]
    lower = np.percentile(share["value"], 5)
    upper = np.percentile(share["value"], 95)
    shenzhen = edition_2022.indicator("440300", "secondary_share")
    clipped = min(max(shenzhen["value"], lower), upper)
    # direction "-": a lower share scores higher
    assert shenzhen["score"] == pytest.approx((upper - clipped) / (upper - lower) * 100)


def test_shenzhen_composite_by_hand(edition_2022):
    method = load_method()
    rows = edition_2022.indicators[edition_2022.indicators["city_code"] == "440300"]
    scores = dict(zip(rows["indicator_id"], rows["score"], strict=True))

    dimension_scores = {}
    dimension_weights = {}
    for dimension in method.tree:
        group_scores = {}
        for group in dimension.groups:
            present = [
                scores[i.id] for i in group.indicators if not math.isnan(scores[i.id])
            ]
            if present:
                group_scores[group.id] = (sum(present) / len(present), group.weight)
        if group_scores:
            total = sum(weight for _, weight in group_scores.values())
            dimension_scores[dimension.id] = (
                sum(score * weight for score, weight in group_scores.values()) / total
            )
            dimension_weights[dimension.id] = dimension.weight
    composite = sum(
        dimension_scores[d] * dimension_weights[d] for d in dimension_scores
    ) / sum(dimension_weights.values())

    exported = edition_2022.scores.set_index("city_code").loc["440300"]
    for dimension_id, score in dimension_scores.items():
        assert exported[dimension_id] == pytest.approx(score)
    assert exported["composite"] == pytest.approx(composite)
    # applied weights sum to 1 and reproduce the composite
    applied = rows["applied_weight"].fillna(0)
    assert applied.sum() == pytest.approx(1.0)
    assert (applied * rows["score"].fillna(0)).sum() == pytest.approx(composite)
    # coverage: the spending share (0.04) and the undated neutrality target
    # (0.09) are missing for Shenzhen
    assert exported["coverage"] == pytest.approx(1 - 0.04 - 0.09)


def test_rows_add_up(edition_2022):
    summary = edition_2022.summary
    assert summary.rows_read == summary.rows_kept + summary.rows_rejected
    assert summary.rows_read > 90_000
    assert not summary.checks_failed
    assert "core_city_values:rows_add_up" in summary.checks_passed


def test_every_indicator_row_traces_to_raw_cells(edition_2022):
    orphans = edition_2022.query(
        """
        WITH ids AS (
            SELECT city_code, indicator_id, unnest(input_row_ids) AS raw_row_id
            FROM out.indicator_values WHERE edition = 2022
        )
        SELECT count(*) AS orphans FROM ids
        LEFT JOIN raw.cells USING (raw_row_id)
        WHERE raw.cells.raw_row_id IS NULL
        """
    )
    assert orphans["orphans"].iloc[0] == 0


def test_missing_values_have_reasons(edition_2022):
    missing = edition_2022.indicators[edition_2022.indicators["is_missing"]]
    assert missing["reason"].notna().all()
    spending = missing[missing["indicator_id"] == "spending_share"]
    assert len(spending) == edition_2022.scores.shape[0]


YEARBOOK = "ccsy_prefecture_2001_2021/地级市（及以上城市）统计资料（{}年）.xlsx"


@pytest.mark.parametrize(
    ("code", "electricity_cell", "gdp_cell"),
    [("110000", "HM6", "AG6"), ("440300", "HM210", "AG210")],
)
def test_electricity_intensity_by_hand(
    edition_2022, real_dir, code, electricity_cell, gdp_cell
):
    # The 2021 volume (data 2020) has no electricity, so the 2020 volume (data
    # 2019) is used instead: 全社会用电量 全市 (10k kWh) over GDP 全市
    # (亿元 = 10^4 x 10k yuan).
    electricity, gdp_100m = read_cells(
        real_dir, YEARBOOK.format(2020), "Sheet1", [electricity_cell, gdp_cell]
    )
    row = edition_2022.indicator(code, "electricity_intensity")
    assert row["value"] == pytest.approx(electricity * 1e4 / (gdp_100m * 1e4))
    assert row["data_year"] == 2019
    assert "scope whole_city" in row["detail"]
    assert "stand-in from 2019" in row["detail"]


@pytest.mark.parametrize(
    ("code", "buses_cell", "population_cell"),
    [("110000", "DM7", "D7"), ("440300", "DM211", "D211")],
)
def test_buses_per_10k_by_hand(
    edition_2022, real_dir, code, buses_cell, population_cell
):
    # 2021 volume (data 2020): 公共汽(电)车营运车辆数 and 常住人口 (10k), both 市辖区
    buses, population_10k = read_cells(
        real_dir, YEARBOOK.format(2021), "Sheet1", [buses_cell, population_cell]
    )
    row = edition_2022.indicator(code, "buses_per_10k")
    assert row["value"] == pytest.approx(buses / population_10k)
    assert row["data_year"] == 2020
    assert "scope districts" in row["detail"]


def test_indicator_coverage_for_edition(edition_2022):
    values = edition_2022.indicators
    with_value = values[~values["is_missing"]].groupby("indicator_id").size()
    for indicator_id in (
        "co2_per_capita",
        "carbon_intensity",
        "co2_growth",
        "decoupling",
        "peak_trend",
        "secondary_share",
        "electricity_intensity",
        "buses_per_10k",
    ):
        assert with_value[indicator_id] >= 250, indicator_id
    assert "spending_share" not in with_value
    per_city = values.groupby("city_code")["indicator_id"].nunique()
    assert (per_city == 14).all()
    assert edition_2022.scores["rank"].notna().sum() >= 250
