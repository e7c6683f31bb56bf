"""pandera models of the raw, core and score tables.

Blocking checks use these models, so a failure stops downstream assets. Values
that are real but implausible (CO2 per capita above 100 t in mining cities such
as 嘉峪关 or 鄂尔多斯) are not schema errors. The WARN checks in
`ccni_pipeline.assets.checks` flag them.
"""

import pandera.pandas as pa
from pandera.typing.pandas import Series

YEAR_MIN = 1990
YEAR_MAX = 2030


class RawCells(pa.DataFrameModel):
    """Kept raw cells of one source: one row per value cell."""

    raw_row_id: Series[str] = pa.Field(
        unique=True, str_length={"min_value": 16, "max_value": 16}
    )
    source_id: Series[str]
    file_sha256: Series[str] = pa.Field(str_length={"min_value": 64, "max_value": 64})
    sheet: Series[str]
    row_number: Series[int] = pa.Field(ge=1)
    column_letter: Series[str] = pa.Field(str_matches=r"^[A-Z]{1,3}$")
    year: Series[int] = pa.Field(ge=YEAR_MIN, le=2100)
    variable: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    unit: Series[str]

    @pa.dataframe_check(error="a value cell has neither a number nor a text value")
    def value_present(cls, frame):  # noqa: N805
        return frame["value"].notna() | (frame["value_text"].fillna("") != "")


class CoreCityValues(pa.DataFrameModel):
    """core.city_values: one row per city, year, variable and source."""

    city_code: Series[str] = pa.Field(str_matches=r"^\d{6}$")
    year: Series[int] = pa.Field(ge=YEAR_MIN, le=2100)
    variable: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    source_id: Series[str]
    raw_row_id: Series[str] = pa.Field(unique=True)

    class Config:
        unique = ["city_code", "year", "variable", "source_id"]

    @pa.check("value", error="negative values are impossible for these variables")
    def not_negative(cls, values):  # noqa: N805
        return values.isna() | (values >= 0)


class IndicatorScores(pa.DataFrameModel):
    """out.indicator_scores of one edition and method."""

    city_code: Series[str] = pa.Field(str_matches=r"^\d{6}$")
    indicator_id: Series[str]
    score: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    nominal_weight: Series[float] = pa.Field(ge=0, le=1)
    applied_weight: Series[float] = pa.Field(ge=0, le=1)
    is_missing: Series[bool]

    class Config:
        unique = ["city_code", "indicator_id"]


class CompositeScores(pa.DataFrameModel):
    """out.composite_scores of one edition and method."""

    city_code: Series[str] = pa.Field(unique=True, str_matches=r"^\d{6}$")
    composite: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    coverage: Series[float] = pa.Field(ge=0, le=1)
