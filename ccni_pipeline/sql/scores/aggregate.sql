-- Group, dimension and composite scores with missing-data reweighting.
-- A missing indicator is left out and the other weights of its group are
-- rescaled. A group with no value is left out of its dimension the same way, and
-- a dimension of the composite. `applied_weight` is an indicator's share of the
-- composite after rescaling (they sum to 1 per city). `coverage` is the share of
-- the full nominal weight that had data.
CREATE OR REPLACE TEMP TABLE score_tree AS
WITH scored AS (
    SELECT s.*, w.group_id, w.dimension_id, w.w_indicator, w.w_group, w.w_dimension
    FROM indicator_scores AS s
    JOIN method_weights AS w USING (indicator_id)
),

groups AS (
    SELECT
        city_code,
        dimension_id,
        group_id,
        any_value(w_group) AS w_group,
        any_value(w_dimension) AS w_dimension,
        sum(w_indicator) FILTER (WHERE score IS NOT NULL) AS present_indicator_weight,
        CASE WHEN $aggregation = 'geometric' THEN
            exp(sum(w_indicator * ln(greatest(score, $floor))) FILTER (WHERE score IS NOT NULL)
                / sum(w_indicator) FILTER (WHERE score IS NOT NULL))
        ELSE
            sum(w_indicator * score) FILTER (WHERE score IS NOT NULL)
                / sum(w_indicator) FILTER (WHERE score IS NOT NULL)
        END AS group_score,
        sum(w_dimension * w_group * w_indicator) FILTER (WHERE score IS NOT NULL)
            AS group_coverage
    FROM scored
    GROUP BY city_code, dimension_id, group_id
),

dimensions AS (
    SELECT
        city_code,
        dimension_id,
        any_value(w_dimension) AS w_dimension,
        sum(w_group) FILTER (WHERE group_score IS NOT NULL) AS present_group_weight,
        CASE WHEN $aggregation = 'geometric' THEN
            exp(sum(w_group * ln(greatest(group_score, $floor)))
                FILTER (WHERE group_score IS NOT NULL)
                / sum(w_group) FILTER (WHERE group_score IS NOT NULL))
        ELSE
            sum(w_group * group_score) FILTER (WHERE group_score IS NOT NULL)
                / sum(w_group) FILTER (WHERE group_score IS NOT NULL)
        END AS dimension_score,
        coalesce(sum(group_coverage), 0) AS dimension_coverage
    FROM groups
    GROUP BY city_code, dimension_id
),

composite AS (
    SELECT
        city_code,
        sum(w_dimension) FILTER (WHERE dimension_score IS NOT NULL) AS present_dimension_weight,
        CASE WHEN $aggregation = 'geometric' THEN
            exp(sum(w_dimension * ln(greatest(dimension_score, $floor)))
                FILTER (WHERE dimension_score IS NOT NULL)
                / sum(w_dimension) FILTER (WHERE dimension_score IS NOT NULL))
        ELSE
            sum(w_dimension * dimension_score) FILTER (WHERE dimension_score IS NOT NULL)
                / sum(w_dimension) FILTER (WHERE dimension_score IS NOT NULL)
        END AS composite,
        sum(dimension_coverage) AS coverage
    FROM dimensions
    GROUP BY city_code
)

SELECT
    s.city_code,
    s.indicator_id,
    s.group_id,
    s.dimension_id,
    s.w_dimension * s.w_group * s.w_indicator AS nominal_weight,
    CASE WHEN s.score IS NOT NULL THEN
        s.w_indicator / g.present_indicator_weight
            * g.w_group / d.present_group_weight
            * d.w_dimension / c.present_dimension_weight
    ELSE 0 END AS applied_weight,
    g.group_score,
    g.w_group,
    g.group_coverage,
    d.dimension_score,
    d.w_dimension,
    d.dimension_coverage,
    c.composite,
    c.coverage
FROM scored AS s
JOIN groups AS g USING (city_code, dimension_id, group_id)
JOIN dimensions AS d USING (city_code, dimension_id)
JOIN composite AS c USING (city_code)
