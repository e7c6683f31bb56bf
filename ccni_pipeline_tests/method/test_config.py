"""The method file: validation messages and weights from AHP matrices and budgets."""

import pytest
import yaml

from ccni_pipeline.method.config import (
    DEFAULT_METHOD_PATH,
    MethodError,
    is_default,
    load_method,
)


def _default() -> dict:
    return yaml.safe_load(DEFAULT_METHOD_PATH.read_text(encoding="utf-8"))


def _write(tmp_path, content: dict, name: str = "method.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


def test_default_method_weights():
    method = load_method()
    weights = {
        indicator.id: dimension.weight
        * group.weight
        * method.indicator_weight(group, indicator)
        for dimension, group, indicator in method.iter_indicators()
    }
    assert len(weights) == 14
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["co2_growth"] == pytest.approx(0.3 * 0.8 / 2)
    assert weights["peak_target"] == pytest.approx(0.3 * 0.6 / 2)
    assert is_default(method)


def test_weights_not_summing_to_one_name_the_key(tmp_path):
    content = _default()
    content["id"] = "broken"
    content["tree"][0]["weight"] = 0.5
    with pytest.raises(MethodError, match=r"tree \(dimension weights\) sum to 1.2"):
        load_method(_write(tmp_path, content))


def test_unknown_key_is_named(tmp_path):
    content = _default()
    content["id"] = "broken"
    content["tree"][1]["groups"][0]["wieght"] = 0.3
    with pytest.raises(MethodError, match=r"tree\.1\.groups\.0\.wieght"):
        load_method(_write(tmp_path, content))


def test_invalid_yaml_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(MethodError, match="not valid YAML"):
        load_method(path)


def test_default_id_with_other_content_rejected(tmp_path):
    content = _default()
    content["normalisation"]["winsor_lower"] = 0.1
    with pytest.raises(MethodError, match="give your method its own `id`"):
        load_method(_write(tmp_path, content))


def test_unknown_edition_lists_known_ones():
    with pytest.raises(
        MethodError, match="known editions: 2020, 2021, 2022, 2023, 2024"
    ):
        load_method().edition(1999)


def test_ahp_dimension_weights(tmp_path):
    content = _default()
    content["id"] = "ahp-dimensions"
    # built from w = (0.3, 0.4, 0.3): a_ij = w_i / w_j, so the matrix is consistent
    content["dimension_weights"] = {
        "ahp": [[1, "3/4", 1], ["4/3", 1, "4/3"], [1, "3/4", 1]]
    }
    for dimension in content["tree"]:
        dimension["weight"] = 0.1  # replaced by the AHP weights
    content["tree"][0]["weight"] = 0.8
    method = load_method(_write(tmp_path, content))
    assert [d.weight for d in method.tree] == pytest.approx([0.3, 0.4, 0.3])
    assert not is_default(method)


def test_inconsistent_ahp_rejected_with_node(tmp_path):
    content = _default()
    content["id"] = "ahp-inconsistent"
    content["tree"][0]["group_weights"] = {"ahp": [[1, 9], ["1/9", 1]]}
    content["tree"][1]["group_weights"] = {
        "ahp": [[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]]
    }
    with pytest.raises(MethodError) as raised:
        load_method(_write(tmp_path, content))
    assert "tree.low_carbon_status.group_weights" in str(raised.value)
    assert "consistency ratio" in str(raised.value)


def test_budget_points_give_group_weights(tmp_path):
    content = _default()
    content["id"] = "budget-groups"
    # two decision makers: (70, 30) and (50, 50) -> mean shares (0.6, 0.4)
    content["tree"][0]["group_weights"] = {
        "budget": [
            {"macro_targets": 70, "capacity_building": 30},
            {"macro_targets": 50, "capacity_building": 50},
        ]
    }
    method = load_method(_write(tmp_path, content))
    groups = method.tree[0].groups
    assert [g.weight for g in groups] == pytest.approx([0.6, 0.4])
