"""Loading and validating the method file (tree, weights, scoring tables, editions).

The method is data: `default.yaml` beside this module is the project's default, and
users pass their own with `--method FILE`. A method is identified by its `id` and
by the sha256 of its canonical JSON form, both recorded with every score.
"""

import hashlib
import json
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_METHOD_PATH = Path(__file__).with_name("default.yaml")

# Indicators the pipeline computes (sql/indicators) and how each is scored:
# "scored" ones get their score from a scoring table, "numeric" ones are normalised.
INDICATOR_KINDS = {
    "peak_target": "scored",
    "neutrality_target": "scored",
    "pilot_status": "scored",
    "disclosure": "scored",
    "spending_share": "numeric",
    "electricity_intensity": "numeric",
    "non_fossil_share": "numeric",
    "secondary_share": "numeric",
    "buses_per_10k": "numeric",
    "co2_per_capita": "numeric",
    "carbon_intensity": "numeric",
    "co2_growth": "numeric",
    "decoupling": "scored",
    "peak_trend": "scored",
}
KNOWN_INDICATORS = tuple(INDICATOR_KINDS)
WEIGHT_TOLERANCE = 1e-6


class MethodError(ValueError):
    """The method file is invalid; the message names the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Edition(_Strict):
    data_year: int = Field(ge=1990, le=2100)
    trend_window: tuple[int, int]
    cutoff_date: str
    # figures the published report gives for this edition, by summary metric
    published: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cutoff_is_a_date(self) -> "Edition":
        try:
            date.fromisoformat(self.cutoff_date)
        except ValueError as error:
            raise ValueError(
                f"cutoff_date {self.cutoff_date!r} is not a date; write it as "
                'YYYY-MM-DD, e.g. "2021-12-31"'
            ) from error
        return self

    @model_validator(mode="after")
    def _window_ends_at_data_year(self) -> "Edition":
        start, end = self.trend_window
        if end != self.data_year or start >= end:
            raise ValueError(
                f"trend_window {list(self.trend_window)} must end at data_year "
                f"{self.data_year} and start before it"
            )
        return self


class Indicator(_Strict):
    id: Literal[KNOWN_INDICATORS]
    name_zh: str
    name_en: str
    direction: Literal["+", "-"]
    kind: Literal["numeric", "scored"]
    unit: str
    weight: float | None = Field(default=None, gt=0)
    # fixed [low, high] values for the goalposts normalisation
    goalposts: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _kind_matches(self) -> "Indicator":
        expected = INDICATOR_KINDS[self.id]
        if self.kind != expected:
            raise ValueError(
                f"{self.id} is computed as a {expected} indicator; set `kind: "
                f"{expected}` (its values are not on a scale that kind {self.kind!r} "
                "can score)"
            )
        return self

    @model_validator(mode="after")
    def _goalposts_ordered(self) -> "Indicator":
        if self.goalposts is not None and not self.goalposts[0] < self.goalposts[1]:
            raise ValueError(
                f"goalposts of {self.id} must be [low, high] with low < high, "
                f"not {list(self.goalposts)}"
            )
        return self


WeightSpec = list[float] | dict[str, object] | None


class Group(_Strict):
    id: str
    name_zh: str
    name_en: str
    weight: float = Field(gt=0)
    indicators: list[Indicator] = Field(min_length=1)
    indicator_weights: WeightSpec = None


class Dimension(_Strict):
    id: str
    name_zh: str
    name_en: str
    weight: float = Field(gt=0)
    groups: list[Group] = Field(min_length=1)
    group_weights: WeightSpec = None


class Normalisation(_Strict):
    method: Literal["minmax", "zscore", "rank", "goalposts"] = "minmax"
    winsor_lower: float = Field(default=0.05, ge=0, lt=0.5)
    winsor_upper: float = Field(default=0.95, gt=0.5, le=1)


class Aggregation(_Strict):
    method: Literal["arithmetic", "geometric"] = "arithmetic"
    geometric_floor: float = Field(default=1, gt=0)


class MissingData(_Strict):
    fallback_years: int = Field(default=2, ge=0, le=10)
    min_coverage: float = Field(default=2 / 3, ge=0, le=1)


class Method(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    version: int
    editions: dict[int, Edition]
    city_set: dict[str, list[str]]
    co2_sources: dict[str, list[str]]
    missing_data: MissingData
    normalisation: Normalisation
    aggregation: Aggregation
    scoring: dict
    tree: list[Dimension] = Field(min_length=1)
    dimension_weights: WeightSpec = None
    disclosure_statistics: dict[str, list[str]]

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> "Method":
        _check_sum("tree (dimension weights)", [d.weight for d in self.tree])
        for dimension in self.tree:
            _check_sum(
                f"tree.{dimension.id}.groups (group weights)",
                [g.weight for g in dimension.groups],
            )
            for group in dimension.groups:
                given = [i.weight for i in group.indicators if i.weight is not None]
                if given and len(given) != len(group.indicators):
                    raise ValueError(
                        f"tree.{dimension.id}.{group.id}: give a weight to every "
                        "indicator of the group or to none (none = equal weights)"
                    )
                if given:
                    _check_sum(f"tree.{dimension.id}.{group.id}.indicators", given)
        if self.normalisation.method == "goalposts":
            lacking = [
                i.id
                for _, _, i in self.iter_indicators()
                if i.kind == "numeric" and i.goalposts is None
            ]
            if lacking:
                raise ValueError(
                    "normalisation.method is goalposts but these numeric indicators "
                    f"have no `goalposts: [low, high]`: {', '.join(lacking)}"
                )
        ids = [i.id for _, _, i in self.iter_indicators()]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"indicator ids must be unique; repeated: {duplicates}")
        return self

    def iter_indicators(self):
        """Yield (dimension, group, indicator) for every indicator of the tree."""
        for dimension in self.tree:
            for group in dimension.groups:
                for indicator in group.indicators:
                    yield dimension, group, indicator

    def indicator_weight(self, group: Group, indicator: Indicator) -> float:
        """Return an indicator's weight inside its group."""
        if indicator.weight is not None:
            return indicator.weight
        return 1.0 / len(group.indicators)

    def edition(self, edition: int) -> Edition:
        """Return one edition's years, or raise MethodError listing the known ones."""
        if edition not in self.editions:
            known = ", ".join(str(e) for e in sorted(self.editions))
            raise MethodError(
                f"edition {edition} is not in method {self.id!r}; "
                f"known editions: {known}. Add it under `editions:` in the method file."
            )
        return self.editions[edition]

    @cached_property
    def content_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_sum(where: str, weights: list[float]) -> None:
    total = sum(weights)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(
            f"{where} sum to {total:.6g}, not 1; change them so they add up to 1"
        )


def load_method(path: Path | str | None = None) -> Method:
    """Read and validate a method file; raise MethodError naming the key and the fix.

    A method other than the packaged default must carry its own `id`, so its
    scores and exports never overwrite the default's.
    """
    method_path = Path(path) if path else DEFAULT_METHOD_PATH
    method = _read_method(method_path)
    if method_path.resolve() != DEFAULT_METHOD_PATH.resolve():
        default = _read_method(DEFAULT_METHOD_PATH)
        if method.id == default.id and method.content_hash != default.content_hash:
            raise MethodError(
                f"method file {method_path}: id {method.id!r} is the default method's "
                "id but the content differs; give your method its own `id` so its "
                "scores are stored beside the default's instead of replacing them"
            )
    return method


def is_default(method: Method) -> bool:
    """Tell whether a method is the packaged default (same id and content)."""
    default = _read_method(DEFAULT_METHOD_PATH)
    return method.id == default.id and method.content_hash == default.content_hash


def _read_method(method_path: Path) -> Method:
    try:
        content = yaml.safe_load(method_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MethodError(f"method file {method_path} not found") from error
    except yaml.YAMLError as error:
        raise MethodError(
            f"method file {method_path} is not valid YAML: {error}"
        ) from error
    if not isinstance(content, dict):
        raise MethodError(f"method file {method_path} must be a YAML mapping")
    try:
        _apply_weight_specs(content)
    except MethodError as error:
        raise MethodError(f"method file {method_path}: {error}") from error
    try:
        return Method.model_validate(content)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"]) or "(top level)"
            problems.append(f"  {key}: {item['msg']}")
        raise MethodError(
            f"method file {method_path} is invalid:\n" + "\n".join(problems)
        ) from error


def _spec_children(node: dict, key: str, path: str) -> list[dict]:
    children = node.get(key)
    if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
        raise MethodError(f"{path}.{key} must be a list of nodes with an `id`")
    return children


def _resolve_into(node: dict, spec_key: str, child_key: str, path: str) -> None:
    """Replace the children's `weight` with the weights a spec at `spec_key` gives."""
    from ccni_pipeline.method.weights import resolve_weights

    spec = node.get(spec_key)
    if spec is None:
        return
    children = _spec_children(node, child_key, path)
    ids = [str(child.get("id")) for child in children]
    weights = resolve_weights(spec, ids, f"{path}.{spec_key}")
    for child, weight in zip(children, weights, strict=True):
        child["weight"] = weight


def _apply_weight_specs(content: dict) -> None:
    """Turn AHP matrices and budget points into the weights of the nodes below.

    A node's children can be weighted by `weight` on each child, or by one spec on
    the node: `dimension_weights` at the top, `group_weights` in a dimension,
    `indicator_weights` in a group. A spec is a list of weights, `{direct: [...]}`,
    `{ahp: matrix}` (rows and columns in the children's order) or
    `{budget: [{child_id: points}, ...]}` with one mapping per decision maker.
    The spec stays in the method, so its hash records how the weights were made.
    """
    _resolve_into(content, "dimension_weights", "tree", "tree")
    for dimension in _spec_children(content, "tree", "(top level)"):
        dimension_path = f"tree.{dimension.get('id')}"
        _resolve_into(dimension, "group_weights", "groups", dimension_path)
        for group in _spec_children(dimension, "groups", dimension_path):
            group_path = f"{dimension_path}.{group.get('id')}"
            _resolve_into(group, "indicator_weights", "indicators", group_path)
