"""Normalisation and aggregation on hand-computed cases, in DuckDB."""

import duckdb
import pandas as pd
import pytest
import yaml

from ccni_pipeline.method.config import DEFAULT_METHOD_PATH, load_method
from ccni_pipeline.method.scores import composite_scores, normalise, score_tree

VALUES = [0.0, 10.0, 20.0, 30.0, 40.0]


def _values(indicator_id: str, direction: str, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "city_code": [f"10{i:02d}00" for i in range(len(values))],
            "indicator_id": indicator_id,
            "group_id": "g",
            "dimension_id": "d",
            "kind": "numeric",
            "direction": direction,
            "value": values,
            "preset_score": None,
            "category": None,
            "is_missing": False,
            "input_row_ids": [[] for _ in values],
        }
    )


def _method(tmp_path, normalisation: str, goalposts=None):
    content = yaml.safe_load(DEFAULT_METHOD_PATH.read_text(encoding="utf-8"))
    content["id"] = f"test-{normalisation}"
    content["normalisation"]["method"] = normalisation
    for dimension in content["tree"]:
        for group in dimension["groups"]:
            for indicator in group["indicators"]:
                if indicator["kind"] == "numeric":
                    indicator["goalposts"] = goalposts or [0, 100]
    path = tmp_path / "method.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return load_method(path)


def _scores(method, values: pd.DataFrame) -> list[float]:
    with duckdb.connect() as connection:
        scored = normalise(connection, values, method)
    return scored.sort_values("city_code")["score"].round(6).tolist()


def test_minmax_after_winsorising():
    # p5 = 0 + 0.05 * 4 * 10 = 2 and p95 = 38 (linear interpolation): 20 -> 18/36
    scores = _scores(load_method(), _values("co2_growth", "+", VALUES))
    assert scores == pytest.approx([0.0, 8 / 36 * 100, 50.0, 28 / 36 * 100, 100.0])


def test_minmax_direction_minus():
    scores = _scores(load_method(), _values("co2_growth", "-", VALUES))
    assert scores == pytest.approx([100.0, 28 / 36 * 100, 50.0, 8 / 36 * 100, 0.0])


def test_all_equal_scores_100():
    scores = _scores(load_method(), _values("co2_growth", "-", [5.0] * 4))
    assert scores == [100.0] * 4


def test_rank_percentile(tmp_path):
    scores = _scores(_method(tmp_path, "rank"), _values("co2_growth", "+", VALUES))
    assert scores == pytest.approx([0.0, 25.0, 50.0, 75.0, 100.0])


def test_zscore_mapped_by_normal_cdf(tmp_path):
    # clipped values 2, 10, 20, 30, 38: mean 20, population sd sqrt(169.6) = 13.0231
    # z(38) = 18 / 13.0231 = 1.3822, Phi(1.3822) = 0.91654
    scores = _scores(_method(tmp_path, "zscore"), _values("co2_growth", "+", VALUES))
    assert scores[2] == pytest.approx(50.0)
    assert scores[4] == pytest.approx(91.654, abs=1e-3)
    assert scores[0] == pytest.approx(100 - 91.654, abs=1e-3)


def test_goalposts(tmp_path):
    method = _method(tmp_path, "goalposts", goalposts=[0, 50])
    scores = _scores(method, _values("co2_growth", "+", VALUES))
    # 40 / 50 = 80 %; values above the high goalpost would be capped at 100
    assert scores == pytest.approx([0.0, 20.0, 40.0, 60.0, 80.0])


def _tree_values(scores: dict[str, float | None]) -> pd.DataFrame:
    method = load_method()
    rows = []
    for _, _, indicator in method.iter_indicators():
        rows.append(
            {
                "city_code": "100100",
                "indicator_id": indicator.id,
                "score": scores.get(indicator.id),
            }
        )
    return pd.DataFrame(rows)


def test_missing_indicator_reweights_group():
    # Only co2_growth (80) and peak_trend (20) present: emission_trend =
    # (0.8 * 80 + 0.2 * 20) / 1 = 68; the other dimensions have no value, so the
    # composite is 68 and coverage is 0.12 + 0.06.
    method = load_method()
    with duckdb.connect() as connection:
        tree = score_tree(
            connection, _tree_values({"co2_growth": 80, "peak_trend": 20}), method
        )
    composite = composite_scores(tree, method).iloc[0]
    assert composite["composite"] == pytest.approx(68.0)
    assert composite["coverage"] == pytest.approx(0.18)
    assert not composite["ranked"]
    applied = tree.set_index("indicator_id")["applied_weight"]
    assert applied["co2_growth"] == pytest.approx(0.8)
    assert applied["peak_trend"] == pytest.approx(0.2)


def test_geometric_aggregation_floors_zero(tmp_path):
    content = yaml.safe_load(DEFAULT_METHOD_PATH.read_text(encoding="utf-8"))
    content["id"] = "geometric"
    content["aggregation"]["method"] = "geometric"
    path = tmp_path / "geometric.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    method = load_method(path)
    # co2_growth and decoupling share reduction_efficiency equally: a score of 0
    # is floored at 1, so the group is sqrt(1 * 100) = 10
    with duckdb.connect() as connection:
        tree = score_tree(
            connection, _tree_values({"co2_growth": 0, "decoupling": 100}), method
        )
    group = tree.set_index("indicator_id").loc["co2_growth", "group_score"]
    assert group == pytest.approx(10.0)
