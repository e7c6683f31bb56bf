"""Weights of one tree node from decision makers' judgements: direct, AHP or budget.

A node is a list of siblings in the method tree (the dimensions, the groups of a
dimension, or the indicators of a group). Its weights can be given three ways:

- direct weights that sum to 1;
- an AHP pairwise-comparison matrix on Saaty's 1-9 scale, whose principal
  eigenvector gives the weights, accepted only when its consistency ratio is
  under 0.1;
- budget-allocation points from several decision makers, turned into shares per
  decision maker and averaged.

Every function returns weights in the order of the node's items and raises
WeightError naming the node (for example "tree.climate_ambition.groups").
"""

import logging
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ccni_pipeline.method.config import WEIGHT_TOLERANCE, MethodError

logger = logging.getLogger(__name__)

# Saaty's random index RI(n): the mean consistency index of random reciprocal
# matrices of size n, as tabulated from T. L. Saaty, The Analytic Hierarchy Process
# (McGraw-Hill, 1980). Later simulations give slightly different values.
RANDOM_INDEX = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
}
MAX_CONSISTENCY_RATIO = 0.1

# a_ij * a_ji may differ from 1 by this share. It accepts reciprocals rounded to two
# decimals (0.13 for 1/8 is 4% off) and rejects an entry that was not inverted (the
# smallest such mistake, 2 against 2, gives a product of 4).
RECIPROCAL_TOLERANCE = 0.05
# a diagonal entry may differ from 1 by this much
DIAGONAL_TOLERANCE = 1e-9
SPEC_KEYS = ("direct", "ahp", "budget")


class WeightError(MethodError):
    """Weighting input of a tree node is invalid; the message names the node and fix."""


@dataclass(frozen=True)
class AhpResult:
    """Weights of an AHP matrix and its consistency.

    Attributes:
        weights: principal eigenvector normalised to sum 1, in row order.
        lambda_max: principal eigenvalue.
        ci: consistency index (lambda_max - n) / (n - 1), 0 for n = 1.
        cr: consistency ratio ci / RI(n), 0 for n <= 2.
    """

    weights: list[float]
    lambda_max: float
    ci: float
    cr: float


def ahp_weights(
    matrix: Sequence[Sequence[float | str]] | np.ndarray,
    node: str,
    labels: Sequence[str] | None = None,
) -> AhpResult:
    """Compute AHP weights and consistency from a Saaty pairwise-comparison matrix.

    Entry a_ij is the judged importance of item i relative to item j, on Saaty's
    1-9 scale. The weights are the principal eigenvector of the matrix,
    normalised to sum 1. The consistency ratio is CR = CI / RI(n) with
    CI = (lambda_max - n) / (n - 1) and Saaty's random index RI(n) (T. L. Saaty,
    The Analytic Hierarchy Process, McGraw-Hill, 1980). Matrices of size 1 and 2
    are always consistent.

    Args:
        matrix: n x n rows of positive numbers or fraction strings such as "1/3",
            with 1 on the diagonal and a_ji = 1 / a_ij.
        node: tree path of the node, used in error messages.
        labels: item ids in row order, used in error messages.

    Returns:
        The weights, lambda_max, CI and CR.

    Raises:
        WeightError: the matrix is not square, has more than 10 rows, has an entry
            that is not a positive number, is not reciprocal, or has CR >= 0.1.
    """
    array = _parse_matrix(matrix, node, labels)
    _check_reciprocal(array, node, labels)
    size = len(array)
    if size == 1:
        return AhpResult(weights=[1.0], lambda_max=1.0, ci=0.0, cr=0.0)

    weights, lambda_max = _principal_eigenvector(array, node)
    ci = (lambda_max - size) / (size - 1)
    cr = ci / RANDOM_INDEX[size] if RANDOM_INDEX[size] > 0 else 0.0
    if cr >= MAX_CONSISTENCY_RATIO:
        _raise_inconsistent(array, weights, cr, node, labels)
    return AhpResult(
        weights=[float(w) for w in weights],
        lambda_max=float(lambda_max),
        ci=float(ci),
        cr=float(cr),
    )


def budget_weights(
    allocations: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
    items: Sequence[str],
    node: str,
) -> list[float]:
    """Average budget-allocation points of several decision makers into weights.

    Each decision maker spreads points over the node's items (for example 100 in
    all). Each decision maker's points are divided by their total, so every
    decision maker counts equally, and the shares are averaged (arithmetic mean).

    Args:
        allocations: one {item: points} mapping per decision maker, or one
            {item: [points of decision maker 1, 2, ...]} mapping.
        items: item ids of the node, in the order of the returned weights.
        node: tree path of the node, used in error messages.

    Returns:
        One weight per item, in `items` order, summing to 1.

    Raises:
        WeightError: no decision makers, an unknown or missing item, points that
            are not a non-negative number, or a decision maker whose total is 0.
    """
    _check_items(items, node)
    per_decision_maker = _allocations_by_decision_maker(allocations, items, node)
    count = len(per_decision_maker)
    points = np.array(
        [
            _budget_points(allocation, items, node, index, count)
            for index, allocation in enumerate(per_decision_maker)
        ]
    )
    shares = points / points.sum(axis=1, keepdims=True)
    return [float(w) for w in shares.mean(axis=0)]


def resolve_weights(
    spec: Sequence[float] | Mapping[str, object],
    items: Sequence[str],
    node: str,
) -> list[float]:
    """Turn a node's weight spec into weights in `items` order.

    The spec is one of: a list of direct weights, {"direct": [...]},
    {"ahp": matrix} with rows and columns in `items` order, or
    {"budget": [{item: points}, ...]}.

    Args:
        spec: the weight spec from the method file.
        items: item ids of the node.
        node: tree path of the node, used in error messages.

    Returns:
        One weight per item, summing to 1.

    Raises:
        WeightError: the spec has no known key or more than one, or its content
            is invalid for that key.
    """
    _check_items(items, node)
    kind, content = _spec_kind(spec, node)
    if kind == "direct":
        weights = _direct_weights(content, items, node)
        logger.info("%s: direct weights %s", node, _rounded(weights))
        return weights

    if kind == "ahp":
        _check_matrix_size(content, items, node)
        result = ahp_weights(content, node, labels=items)
        logger.info(
            "%s: AHP weights %s, lambda_max %.4f, CR %.4f",
            node,
            _rounded(result.weights),
            result.lambda_max,
            result.cr,
        )
        return result.weights

    weights = budget_weights(content, items, node)
    logger.info("%s: budget-allocation weights %s", node, _rounded(weights))
    return weights


# --- AHP helpers ---------------------------------------------------------------


def _cell(row: int, column: int, labels: Sequence[str] | None) -> str:
    """Name a matrix cell by 1-based row and column, with item ids when known."""
    if labels is None:
        return f"(row {row + 1}, column {column + 1})"
    return f"(row {row + 1} {labels[row]!r}, column {column + 1} {labels[column]!r})"


def _parse_matrix(
    matrix: Sequence[Sequence[float | str]] | np.ndarray,
    node: str,
    labels: Sequence[str] | None,
) -> np.ndarray:
    rows = matrix.tolist() if isinstance(matrix, np.ndarray) else matrix
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence) or not rows:
        raise WeightError(
            f"{node}: the AHP matrix must be a non-empty list of rows, got {rows!r}"
        )
    size = len(rows)
    if size > max(RANDOM_INDEX):
        raise WeightError(
            f"{node}: the AHP matrix has {size} rows, but Saaty's random index is "
            f"tabulated only up to n = {max(RANDOM_INDEX)}. Split the node into "
            "smaller groups or give direct weights."
        )
    for index, row in enumerate(rows):
        if isinstance(row, str | bytes) or not isinstance(row, Sequence):
            raise WeightError(
                f"{node}: AHP matrix row {index + 1} is not a list: {row!r}"
            )
        if len(row) != size:
            raise WeightError(
                f"{node}: the AHP matrix must be square, but row {index + 1} has "
                f"{len(row)} entries and there are {size} rows"
            )
    return np.array(
        [
            [_parse_entry(rows[i][j], node, _cell(i, j, labels)) for j in range(size)]
            for i in range(size)
        ]
    )


def _parse_entry(value: object, node: str, cell: str) -> float:
    """Read one matrix entry: a number or a fraction string such as "1/3"."""
    if isinstance(value, str):
        try:
            number = float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError) as error:
            raise WeightError(
                f"{node}: AHP matrix cell {cell} is {value!r}, which is not a number "
                'or fraction. Write it like 3, 0.5 or "1/3".'
            ) from error
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    else:
        raise WeightError(
            f"{node}: AHP matrix cell {cell} is {value!r}, which is not a number"
        )
    if not (math.isfinite(number) and number > 0):
        raise WeightError(
            f"{node}: AHP matrix cell {cell} is {value!r}, but every entry must be "
            "a positive finite number (Saaty's scale runs from 1/9 to 9)"
        )
    return number


def _check_reciprocal(
    array: np.ndarray, node: str, labels: Sequence[str] | None
) -> None:
    diagonal_errors = np.flatnonzero(np.abs(np.diag(array) - 1) > DIAGONAL_TOLERANCE)
    if diagonal_errors.size:
        i = int(diagonal_errors[0])
        raise WeightError(
            f"{node}: AHP matrix cell {_cell(i, i, labels)} is {array[i, i]:g}, "
            "but the diagonal must be 1 (an item compared with itself)"
        )

    mismatch = np.abs(array * array.T - 1) > RECIPROCAL_TOLERANCE
    cells = np.argwhere(np.triu(mismatch, k=1))
    if cells.size:
        i, j = (int(k) for k in cells[0])
        value = array[i, j]
        reciprocal = f"1/{value:g}" if value >= 1 else f"{1 / value:g}"
        raise WeightError(
            f"{node}: AHP matrix is not reciprocal: cell {_cell(i, j, labels)} is "
            f"{value:g} and cell {_cell(j, i, labels)} is {array[j, i]:g}, "
            f"but their product must be 1. Set cell {_cell(j, i, labels)} to "
            f"{reciprocal}."
        )


def _principal_eigenvector(array: np.ndarray, node: str) -> tuple[np.ndarray, float]:
    """Return the principal eigenvector (sum 1) and eigenvalue of a positive matrix."""
    eigenvalues, eigenvectors = np.linalg.eig(array)
    index = int(np.argmax(eigenvalues.real))
    vector = eigenvectors[:, index].real
    weights = vector / vector.sum()
    # By the Perron-Frobenius theorem a positive matrix has a real, simple
    # principal eigenvalue with a positive eigenvector, so this check guards only
    # against numerical failure.
    if abs(eigenvalues[index].imag) > 1e-9 or not np.all(weights > 0):
        raise WeightError(
            f"{node}: the principal eigenvector of the AHP matrix could not be "
            f"computed (eigenvalue {eigenvalues[index]}). Check the matrix entries."
        )
    return weights, float(eigenvalues[index].real)


def _raise_inconsistent(
    array: np.ndarray,
    weights: np.ndarray,
    cr: float,
    node: str,
    labels: Sequence[str] | None,
) -> None:
    # the judgement furthest from the ratio w_i / w_j that the weights imply
    deviation = np.abs(np.log(array * weights[None, :] / weights[:, None]))
    i, j = (int(k) for k in np.unravel_index(np.argmax(deviation), deviation.shape))
    raise WeightError(
        f"{node}: the AHP matrix has consistency ratio {cr:.3f}, at or above the "
        f"limit {MAX_CONSISTENCY_RATIO}. Revise the pairwise judgements. The one "
        f"furthest from the resulting weights is cell {_cell(i, j, labels)}: "
        f"{array[i, j]:.4g}, while the weights give {weights[i] / weights[j]:.4g}."
    )


# --- budget-allocation helpers ---------------------------------------------------


def _allocations_by_decision_maker(
    allocations: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
    items: Sequence[str],
    node: str,
) -> list[Mapping[str, float]]:
    """Return one {item: points} mapping per decision maker."""
    if isinstance(allocations, Mapping):
        allocations = _transpose_allocations(allocations, node)
    if isinstance(allocations, str) or not isinstance(allocations, Sequence):
        raise WeightError(
            f"{node}: budget allocations must be a list of {{item: points}} mappings, "
            f"one per decision maker, got {allocations!r}"
        )
    if not allocations:
        raise WeightError(
            f"{node}: budget allocations are empty. Give the points of at least one "
            f"decision maker for the items {list(items)}."
        )
    return list(allocations)


def _transpose_allocations(
    allocations: Mapping[str, Sequence[float]], node: str
) -> list[dict[str, float]]:
    """Turn {item: [points per decision maker]} into one mapping per decision maker."""
    lengths = {
        item: len(points) if isinstance(points, Sequence) else None
        for item, points in allocations.items()
    }
    if None in lengths.values() or len(set(lengths.values())) > 1:
        raise WeightError(
            f"{node}: budget allocations by item must give every item a list with "
            f"one number per decision maker, but the list lengths are {lengths}"
        )
    count = next(iter(lengths.values()), 0)
    return [
        {item: points[index] for item, points in allocations.items()}
        for index in range(count)
    ]


def _budget_points(
    allocation: Mapping[str, float],
    items: Sequence[str],
    node: str,
    index: int,
    count: int,
) -> list[float]:
    """Check one decision maker's points and return them in `items` order."""
    context = f"{node}: budget allocation of decision maker {index + 1} of {count}"
    if not isinstance(allocation, Mapping):
        raise WeightError(
            f"{context} must be an {{item: points}} mapping, got {allocation!r}"
        )
    unknown = [item for item in allocation if item not in items]
    if unknown:
        raise WeightError(
            f"{context} names unknown item {unknown[0]!r}. "
            f"The node's items are {list(items)}."
        )
    missing = [item for item in items if item not in allocation]
    if missing:
        raise WeightError(
            f"{context} has no points for item "
            f"{missing[0]!r}. Give every item points, 0 where it gets none."
        )
    points = [_budget_value(allocation[item], context, item) for item in items]
    if sum(points) <= 0:
        raise WeightError(
            f"{context} gives 0 points in total. "
            "Give points to at least one item or drop this decision maker."
        )
    return points


def _budget_value(value: object, context: str, item: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WeightError(
            f"{context} gives item {item!r} {value!r}, which is not a number"
        )
    if not (math.isfinite(value) and value >= 0):
        raise WeightError(
            f"{context} gives item {item!r} {value!r} "
            "points, but points must be a finite number of 0 or more"
        )
    return float(value)


# --- spec helpers ----------------------------------------------------------------


def _check_items(items: Sequence[str], node: str) -> None:
    if not items:
        raise WeightError(f"{node}: the node has no items to weight")
    repeated = sorted({item for item in items if list(items).count(item) > 1})
    if repeated:
        raise WeightError(
            f"{node}: item ids must be unique, but these repeat: {repeated}"
        )


def _spec_kind(
    spec: Sequence[float] | Mapping[str, object], node: str
) -> tuple[str, object]:
    """Return the spec's key (direct, ahp or budget) and its content."""
    if isinstance(spec, Mapping):
        keys = list(spec)
        if len(keys) != 1 or keys[0] not in SPEC_KEYS:
            raise WeightError(
                f"{node}: weight spec has keys {keys}, but it must have exactly one "
                f"of {list(SPEC_KEYS)}"
            )
        return keys[0], spec[keys[0]]
    if isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
        return "direct", spec
    raise WeightError(
        f"{node}: weight spec {spec!r} is neither a list of weights nor a mapping "
        f"with one of the keys {list(SPEC_KEYS)}"
    )


def _direct_weights(content: object, items: Sequence[str], node: str) -> list[float]:
    if isinstance(content, str | bytes) or not isinstance(content, Sequence):
        raise WeightError(f"{node}: direct weights must be a list, got {content!r}")
    if len(content) != len(items):
        raise WeightError(
            f"{node}: {len(content)} direct weights given for {len(items)} items "
            f"{list(items)}. Give one weight per item, in that order."
        )
    for item, weight in zip(items, content, strict=True):
        is_number = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
        if not (is_number and math.isfinite(weight) and weight > 0):
            raise WeightError(
                f"{node}: direct weight of item {item!r} is {weight!r}, but weights "
                "must be positive numbers"
            )
    total = sum(float(w) for w in content)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise WeightError(
            f"{node}: direct weights sum to {total:.10g}, not 1. Change them so they "
            "add up to 1."
        )
    return [float(w) for w in content]


def _check_matrix_size(content: object, items: Sequence[str], node: str) -> None:
    if isinstance(content, Sequence | np.ndarray) and len(content) != len(items):
        raise WeightError(
            f"{node}: the AHP matrix has {len(content)} rows but the node has "
            f"{len(items)} items {list(items)}. Give one row and one column per "
            "item, in that order."
        )


def _rounded(weights: Sequence[float]) -> list[float]:
    return [round(w, 4) for w in weights]
