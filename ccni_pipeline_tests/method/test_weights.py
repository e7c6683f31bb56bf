"""Decision-maker weighting (AHP and budget allocation) on cases worked out by hand.

For a 3 x 3 reciprocal matrix with a_12 = a, a_13 = b, a_23 = c the characteristic
polynomial gives lambda_max = 1 + r^(1/3) + r^(-1/3) with r = a * c / b, and the
principal eigenvector is proportional to the geometric means of the rows. The
expected values below come from these two closed forms, not from the code.
"""

from fractions import Fraction

import pytest

from ccni_pipeline.method.config import MethodError, load_method
from ccni_pipeline.method.weights import (
    AhpResult,
    WeightError,
    ahp_weights,
    budget_weights,
    resolve_weights,
)

GROUPS_NODE = "tree.climate_ambition.groups"


def consistent_matrix(weights: list[float]) -> list[list[float]]:
    """Build a_ij = w_i / w_j, a perfectly consistent matrix for the weights w."""
    return [[w_i / w_j for w_j in weights] for w_i in weights]


# --- AHP: consistent matrices ---------------------------------------------------


@pytest.mark.parametrize(
    "weights",
    [(0.5, 0.3, 0.2), (0.4, 0.3, 0.2, 0.1)],
    ids=["three items", "four items"],
)
def test_ahp_consistent_matrix_returns_weights(weights):
    result = ahp_weights(consistent_matrix(list(weights)), GROUPS_NODE)

    assert isinstance(result, AhpResult)
    assert result.weights == pytest.approx(list(weights), abs=1e-9)
    # A = w (1/w)^T has rank 1, and A w = n w, so lambda_max = n and CI = CR = 0.
    assert result.lambda_max == pytest.approx(len(weights), abs=1e-9)
    assert result.ci == pytest.approx(0, abs=1e-9)
    assert result.cr == pytest.approx(0, abs=1e-9)


def test_ahp_consistent_from_fraction_strings():
    # w = (1/2, 1/3, 1/6) written as exact fractions: a_12 = 3/2, a_13 = 3, a_23 = 2
    matrix = [["1", "3/2", "3"], ["2/3", "1", "2"], ["1/3", "1/2", "1"]]

    result = ahp_weights(matrix, GROUPS_NODE)

    assert result.weights == pytest.approx([1 / 2, 1 / 3, 1 / 6], abs=1e-9)
    assert result.cr == pytest.approx(0, abs=1e-9)


def test_ahp_one_item():
    result = ahp_weights([[1]], GROUPS_NODE)

    assert result.weights == [1.0]
    assert result.lambda_max == 1.0
    assert result.ci == 0.0
    assert result.cr == 0.0


def test_ahp_two_items_always_consistent():
    # item 1 is 4 times as important as item 2, so w = (4/5, 1/5)
    result = ahp_weights([[1, 4], ["1/4", 1]], GROUPS_NODE)

    assert result.weights == pytest.approx([0.8, 0.2], abs=1e-9)
    assert result.lambda_max == pytest.approx(2, abs=1e-9)
    assert result.cr == 0.0


# --- AHP: inconsistent but accepted ----------------------------------------------


def test_ahp_saaty_example_weights_and_cr():
    # a = 3, b = 5, c = 3, so r = 3 * 3 / 5 = 1.8,
    # r^(1/3) = 1.21644, r^(-1/3) = 0.82207, and
    # lambda_max = 1 + 1.21644 + 0.82207 = 3.03851
    # CI = (3.03851 - 3) / 2 = 0.019256, CR = 0.019256 / 0.58 = 0.0332
    # Row geometric means 15^(1/3) = 2.46621, 1, (1/15)^(1/3) = 0.40548, sum 3.87169:
    # w = (0.63699, 0.25828, 0.10473)
    matrix = [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]

    result = ahp_weights(matrix, GROUPS_NODE)

    assert [round(w, 3) for w in result.weights] == [0.637, 0.258, 0.105]
    assert result.lambda_max == pytest.approx(3.03851, abs=1e-5)
    assert result.ci == pytest.approx(0.019256, abs=1e-6)
    assert round(result.cr, 3) == 0.033
    assert sum(result.weights) == pytest.approx(1, abs=1e-12)


def test_ahp_fraction_strings_match_floats():
    as_strings = [["1", "3", "5"], ["1/3", "1", "3"], ["1/5", " 1 / 3 ", "1"]]
    as_floats = [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]

    from_strings = ahp_weights(as_strings, GROUPS_NODE)
    from_floats = ahp_weights(as_floats, GROUPS_NODE)

    assert from_strings.weights == pytest.approx(from_floats.weights, abs=1e-12)
    assert from_strings.cr == pytest.approx(from_floats.cr, abs=1e-12)


def test_ahp_cr_just_under_limit_accepted():
    # a = 5, b = 2, c = 1: r = 2.5, r^(1/3) = 1.35721, lambda_max = 3.09402,
    # CI = 0.04701, CR = 0.04701 / 0.58 = 0.0810
    matrix = [[1, 5, 2], ["1/5", 1, 1], ["1/2", 1, 1]]

    result = ahp_weights(matrix, GROUPS_NODE)

    assert result.lambda_max == pytest.approx(3.09402, abs=1e-5)
    assert result.cr == pytest.approx(0.0810, abs=1e-4)
    # row geometric means 10^(1/3), (1/5)^(1/3), (1/2)^(1/3), normalised
    assert result.weights == pytest.approx([0.60981, 0.16553, 0.22466], abs=1e-5)


def test_ahp_two_decimal_reciprocals_accepted():
    # 0.33 for 1/3 and 0.2 for 1/5: products 0.99 and 1, within the 5% tolerance
    matrix = [[1, 3, 5], [0.33, 1, 3], [0.2, 0.33, 1]]

    result = ahp_weights(matrix, GROUPS_NODE)

    assert [round(w, 2) for w in result.weights] == [0.64, 0.26, 0.10]


# --- AHP: rejected ------------------------------------------------------------------


def test_ahp_cyclic_matrix_rejected_naming_node():
    # a = 9, b = 1/9, c = 9: r = 729, r^(1/3) = 9, lambda_max = 1 + 9 + 1/9 = 10.111,
    # CI = (10.111 - 3) / 2 = 3.5556, CR = 3.5556 / 0.58 = 6.130
    matrix = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]

    with pytest.raises(WeightError) as caught:
        ahp_weights(matrix, GROUPS_NODE)

    message = str(caught.value)
    assert message.startswith(f"{GROUPS_NODE}:")
    assert "consistency ratio 6.130" in message
    assert "Revise the pairwise judgements" in message


def test_ahp_cr_just_over_limit_rejected():
    # a = 3, b = 1, c = 1: r = 3, r^(1/3) = 1.44225, lambda_max = 3.13561,
    # CI = 0.06781, CR = 0.06781 / 0.58 = 0.117
    matrix = [[1, 3, 1], ["1/3", 1, 1], [1, 1, 1]]

    with pytest.raises(WeightError, match=r"consistency ratio 0\.117"):
        ahp_weights(matrix, "tree", labels=["a", "b", "c"])


def test_ahp_inconsistent_names_worst_cell():
    matrix = [[1, 3, 1], ["1/3", 1, 1], [1, 1, 1]]

    with pytest.raises(WeightError) as caught:
        ahp_weights(matrix, "tree", labels=["a", "b", "c"])

    # geometric means 3^(1/3), 3^(-1/3), 1 imply w_1 / w_3 = 1.442 against the
    # judgement a_13 = 1, the largest log deviation in the matrix
    assert "cell (row 1 'a', column 3 'c')" in str(caught.value)
    assert "1.442" in str(caught.value)


def test_ahp_non_reciprocal_rejected_naming_cell():
    matrix = [[1, 3, 5], [3, 1, 3], [1 / 5, 1 / 3, 1]]

    with pytest.raises(WeightError) as caught:
        ahp_weights(matrix, GROUPS_NODE)

    message = str(caught.value)
    assert message.startswith(f"{GROUPS_NODE}:")
    assert "not reciprocal" in message
    assert "cell (row 1, column 2) is 3" in message
    assert "cell (row 2, column 1) is 3" in message
    assert "Set cell (row 2, column 1) to 1/3" in message


def test_ahp_non_reciprocal_names_labels():
    matrix = [[1, 2], [1, 1]]

    with pytest.raises(WeightError, match=r"\(row 1 'low', column 2 'high'\) is 2"):
        ahp_weights(matrix, GROUPS_NODE, labels=["low", "high"])


def test_ahp_diagonal_not_one_rejected():
    matrix = [[1, 2], [0.5, 2]]

    with pytest.raises(WeightError, match=r"cell \(row 2, column 2\) is 2.*diagonal"):
        ahp_weights(matrix, GROUPS_NODE)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (0, r"cell \(row 1, column 2\) is 0, but every entry must be a positive"),
        (-3, r"cell \(row 1, column 2\) is -3, but every entry must be a positive"),
        (float("inf"), r"cell \(row 1, column 2\) is inf"),
        ("three", r"cell \(row 1, column 2\) is 'three', which is not a number"),
        ("1/0", r"cell \(row 1, column 2\) is '1/0', which is not a number"),
        (None, r"cell \(row 1, column 2\) is None, which is not a number"),
        (True, r"cell \(row 1, column 2\) is True, which is not a number"),
    ],
)
def test_ahp_bad_entry_rejected_naming_cell(entry, expected):
    matrix = [[1, entry], [1, 1]]

    with pytest.raises(WeightError, match=expected):
        ahp_weights(matrix, GROUPS_NODE)


def test_ahp_non_square_rejected():
    matrix = [[1, 3, 5], [1 / 3, 1, 3]]

    with pytest.raises(WeightError, match=r"must be square, but row 1 has 3 entries"):
        ahp_weights(matrix, GROUPS_NODE)


def test_ahp_empty_matrix_rejected():
    with pytest.raises(WeightError, match=r"must be a non-empty list of rows"):
        ahp_weights([], GROUPS_NODE)


def test_ahp_more_than_ten_items_rejected():
    matrix = consistent_matrix([1 / 11] * 11)

    with pytest.raises(WeightError, match=r"11 rows.*only up to n = 10"):
        ahp_weights(matrix, GROUPS_NODE)


def test_weight_error_is_method_error():
    with pytest.raises(MethodError):
        ahp_weights([[1, 2], [2, 1]], GROUPS_NODE)


# --- budget allocation -----------------------------------------------------------


def test_budget_two_decision_makers():
    # shares (0.6, 0.4) and (0.2, 0.8), mean (0.4, 0.6)
    allocations = [{"a": 60, "b": 40}, {"a": 20, "b": 80}]

    weights = budget_weights(allocations, ["a", "b"], GROUPS_NODE)

    assert weights == pytest.approx([0.4, 0.6], abs=1e-12)


def test_budget_by_item_lists_same_result():
    allocations = {"a": [60, 20], "b": [40, 80]}

    weights = budget_weights(allocations, ["a", "b"], GROUPS_NODE)

    assert weights == pytest.approx([0.4, 0.6], abs=1e-12)


def test_budget_follows_items_order():
    allocations = [{"a": 60, "b": 40}, {"a": 20, "b": 80}]

    weights = budget_weights(allocations, ["b", "a"], GROUPS_NODE)

    assert weights == pytest.approx([0.6, 0.4], abs=1e-12)


def test_budget_decision_makers_count_equally():
    # shares (0.5, 0.5) and (0.75, 0.25), mean (0.625, 0.375). Pooling the raw
    # points instead would give a = 31 / 42 = 0.738.
    allocations = [{"a": 1, "b": 1}, {"a": 30, "b": 10}]

    weights = budget_weights(allocations, ["a", "b"], GROUPS_NODE)

    assert weights == pytest.approx([0.625, 0.375], abs=1e-12)


def test_budget_zero_points_for_one_item():
    # shares (1, 0, 0) and (0.5, 0.25, 0.25), mean (0.75, 0.125, 0.125)
    allocations = [{"a": 100, "b": 0, "c": 0}, {"a": 50, "b": 25, "c": 25}]

    weights = budget_weights(allocations, ["a", "b", "c"], GROUPS_NODE)

    assert weights == pytest.approx([0.75, 0.125, 0.125], abs=1e-12)


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (
            {"a": 20, "b": 70, "x": 10},
            r"decision maker 2 of 2 names unknown item 'x'",
        ),
        ({"a": 100}, r"decision maker 2 of 2 has no points for item 'b'"),
        ({"a": 120, "b": -20}, r"decision maker 2 of 2 gives item 'b' -20 points"),
        ({"a": 0, "b": 0}, r"decision maker 2 of 2 gives 0 points in total"),
        ({"a": "60", "b": 40}, r"decision maker 2 of 2 gives item 'a' '60'"),
        ({"a": float("nan"), "b": 40}, r"decision maker 2 of 2 gives item 'a' nan"),
    ],
    ids=["unknown item", "missing item", "negative", "zero total", "text", "nan"],
)
def test_budget_bad_allocation_rejected(second, expected):
    allocations = [{"a": 60, "b": 40}, second]

    with pytest.raises(WeightError) as caught:
        budget_weights(allocations, ["a", "b"], GROUPS_NODE)

    assert str(caught.value).startswith(f"{GROUPS_NODE}:")
    assert caught.match(expected)


def test_budget_no_decision_makers_rejected():
    with pytest.raises(WeightError, match=r"budget allocations are empty"):
        budget_weights([], ["a", "b"], GROUPS_NODE)


def test_budget_by_item_unequal_lengths_rejected():
    allocations = {"a": [60, 20], "b": [40]}

    with pytest.raises(WeightError, match=r"list lengths are \{'a': 2, 'b': 1\}"):
        budget_weights(allocations, ["a", "b"], GROUPS_NODE)


# --- resolve_weights ----------------------------------------------------------------


def test_resolve_direct_list_and_mapping():
    items = ["a", "b", "c"]

    assert resolve_weights([0.5, 0.3, 0.2], items, "tree") == [0.5, 0.3, 0.2]
    assert resolve_weights({"direct": [0.5, 0.3, 0.2]}, items, "tree") == [
        0.5,
        0.3,
        0.2,
    ]


def test_resolve_direct_sum_within_tolerance():
    weights = resolve_weights([0.5, 0.3, 0.2 + 5e-7], ["a", "b", "c"], "tree")

    assert weights == [0.5, 0.3, 0.2 + 5e-7]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([0.5, 0.3, 0.3], r"direct weights sum to 1\.1, not 1"),
        ([0.5, 0.3, 0.2 + 2e-6], r"direct weights sum to 1\.000002, not 1"),
        ([0.5, 0.5], r"2 direct weights given for 3 items"),
        ([0.5, 0.5, 0], r"direct weight of item 'c' is 0"),
        ([0.6, 0.6, -0.2], r"direct weight of item 'c' is -0.2"),
        ([0.5, "0.3", 0.2], r"direct weight of item 'b' is '0.3'"),
    ],
    ids=["sum 1.1", "sum 1 + 2e-6", "too few", "zero", "negative", "text"],
)
def test_resolve_bad_direct_rejected(weights, expected):
    with pytest.raises(WeightError, match=expected):
        resolve_weights(weights, ["a", "b", "c"], "tree")


def test_resolve_ahp_uses_item_labels():
    matrix = [[1, 3], [3, 1]]

    with pytest.raises(WeightError, match=r"\(row 1 'a', column 2 'b'\) is 3"):
        resolve_weights({"ahp": matrix}, ["a", "b"], "tree")


def test_resolve_ahp_size_mismatch_rejected():
    matrix = [[1, 3], ["1/3", 1]]

    with pytest.raises(WeightError, match=r"2 rows but the node has 3 items"):
        resolve_weights({"ahp": matrix}, ["a", "b", "c"], "tree")


def test_resolve_budget():
    allocations = [{"a": 60, "b": 40}, {"a": 20, "b": 80}]

    weights = resolve_weights({"budget": allocations}, ["a", "b"], "tree")

    assert weights == pytest.approx([0.4, 0.6], abs=1e-12)


@pytest.mark.parametrize(
    "spec",
    [{"pairwise": [[1]]}, {"direct": [1.0], "ahp": [[1]]}, {}],
    ids=["unknown key", "two keys", "no key"],
)
def test_resolve_bad_spec_keys_rejected(spec):
    with pytest.raises(WeightError) as caught:
        resolve_weights(spec, ["a"], "tree")

    assert "exactly one of ['direct', 'ahp', 'budget']" in str(caught.value)


def test_resolve_spec_of_wrong_type_rejected():
    with pytest.raises(WeightError, match=r"neither a list of weights nor a mapping"):
        resolve_weights("equal", ["a"], "tree")


def test_resolve_repeated_items_rejected():
    with pytest.raises(WeightError, match=r"these repeat: \['a'\]"):
        resolve_weights([0.5, 0.5], ["a", "a"], "tree")


# --- the default method's tree -------------------------------------------------


def test_default_tree_dimension_weights_from_ahp():
    method = load_method()
    items = [dimension.id for dimension in method.tree]
    published = [dimension.weight for dimension in method.tree]
    # the published dimension weights are 0.3, 0.4 and 0.3
    assert published == [0.3, 0.4, 0.3]
    # written as judgements: low_carbon_status is 4/3 as important as the other two
    matrix = [[Fraction(1), Fraction(3, 4), Fraction(1)]]
    matrix += [[Fraction(4, 3), Fraction(1), Fraction(4, 3)]]
    matrix += [[Fraction(1), Fraction(3, 4), Fraction(1)]]
    as_strings = [[str(entry) for entry in row] for row in matrix]

    weights = resolve_weights({"ahp": as_strings}, items, "tree")

    assert weights == pytest.approx(published, abs=1e-9)


def test_default_tree_group_weights_from_budget():
    method = load_method()
    dimension = method.tree[0]
    items = [group.id for group in dimension.groups]
    assert items == ["macro_targets", "capacity_building"]
    # the published group weights 0.6 / 0.4 as the mean of two decision makers
    allocations = [
        {"macro_targets": 70, "capacity_building": 30},
        {"macro_targets": 50, "capacity_building": 50},
    ]

    weights = resolve_weights({"budget": allocations}, items, GROUPS_NODE)

    assert weights == pytest.approx([group.weight for group in dimension.groups])
