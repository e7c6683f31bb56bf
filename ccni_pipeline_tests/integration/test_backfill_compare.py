"""Backfill of every edition, and method comparison, on the real files."""

import math

import pandas as pd
import pytest
import yaml

from ccni_pipeline.instance import prepare_dagster_home
from ccni_pipeline.method.compare import compare_methods
from ccni_pipeline.method.config import DEFAULT_METHOD_PATH, load_method
from ccni_pipeline.run import backfill
from ccni_pipeline.sources.fetch import fetch_sources
from ccni_pipeline.sources.manifest import load_manifest


def _method_file(folder, method_id: str, equal_weights: bool):
    content = yaml.safe_load(DEFAULT_METHOD_PATH.read_text(encoding="utf-8"))
    content["id"] = method_id
    if equal_weights:
        for dimension in content["tree"]:
            dimension["weight"] = 1 / len(content["tree"])
            for group in dimension["groups"]:
                group["weight"] = 1 / len(dimension["groups"])
    path = folder / f"{method_id}.yaml"
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory, real_dir):
    folder = tmp_path_factory.mktemp("backfill")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCNI_DATA_LAKE", str(folder / "lake"))
        patch.setenv("DAGSTER_HOME", str(folder / "lake" / "dagster_home"))
        prepare_dagster_home()
        fetch_sources(load_manifest(), mirror=real_dir)
        summaries = backfill()
        same = _method_file(folder, "same-as-default", equal_weights=False)
        equal = _method_file(folder, "equal-weights", equal_weights=True)
        identical, _ = compare_methods(2022, "default", str(same))
        shifted, target = compare_methods(2022, "default", str(equal))
        yield {
            "folder": folder / "lake",
            "summaries": summaries,
            "identical": identical,
            "shifted": shifted,
            "target": target,
        }


def test_backfill_materialises_every_edition(lake):
    summaries = lake["summaries"]
    assert [s.edition for s in summaries] == [2020, 2021, 2022, 2023, 2024]
    assert all(s.succeeded for s in summaries)
    for summary in summaries:
        exports = lake["folder"] / "exports" / str(summary.edition) / "scores.csv"
        scores = pd.read_csv(exports, dtype={"city_code": str})
        assert scores["composite"].notna().sum() >= 250, summary.edition


def test_identical_methods_shift_nothing(lake):
    identical = lake["identical"]
    assert len(identical) >= 250
    assert (identical["rank_shift"] == 0).all()
    assert identical["composite_change"].abs().max() == pytest.approx(0.0, abs=1e-9)


def test_equal_weights_shift_by_hand(lake):
    folder = lake["folder"]
    indicators = pd.read_csv(
        folder / "exports" / "2022" / "indicators.csv", dtype={"city_code": str}
    )
    default_scores = pd.read_csv(
        folder / "exports" / "2022" / "scores.csv", dtype={"city_code": str}
    )
    method = load_method()

    # Recompute every city's composite under equal weights at every level from
    # its indicator scores, which do not depend on the weights.
    composites = {}
    coverage = {}
    for code, rows in indicators.groupby("city_code"):
        scores = dict(zip(rows["indicator_id"], rows["score"], strict=True))
        dimension_scores = []
        coverage[code] = 0.0
        for dimension in method.tree:
            groups = []
            for group in dimension.groups:
                present = [
                    scores[i.id]
                    for i in group.indicators
                    if not math.isnan(scores[i.id])
                ]
                if present:
                    groups.append(sum(present) / len(present))
                nominal = (
                    1 / len(method.tree) / len(dimension.groups) / len(group.indicators)
                )
                coverage[code] += nominal * len(present)
            if groups:
                dimension_scores.append(sum(groups) / len(groups))
        composites[code] = sum(dimension_scores) / len(dimension_scores)

    ranked = [
        code
        for code, share in coverage.items()
        if share >= method.missing_data.min_coverage - 1e-9
    ]
    equal = pd.Series(composites)[sorted(ranked)]
    expected_rank = equal.rank(method="min", ascending=False)
    shifted = lake["shifted"].set_index("city_code")
    top = shifted.index[0]
    assert shifted.loc[top, "composite_b"] == pytest.approx(composites[top])
    assert shifted.loc[top, "rank_b"] == expected_rank[top]
    default_rank = default_scores.set_index("city_code").loc[top, "rank"]
    assert shifted.loc[top, "rank_shift"] == expected_rank[top] - default_rank
    assert abs(shifted.loc[top, "rank_shift"]) == shifted["rank_shift"].abs().max()
    assert lake["target"].is_file()
