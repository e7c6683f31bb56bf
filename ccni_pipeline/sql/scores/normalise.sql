-- Indicator scores on 0-100. Numeric indicators are winsorised at the method's
-- quantiles of the rated cities, then scaled min-max (or by rank percentile) with
-- the direction applied; when all cities share one value each scores 100.
-- Scored indicators keep the score their state or target year earned.
WITH bounds AS (
    -- winsorising limits per indicator, over the rated cities with a value
    SELECT
        indicator_id,
        quantile_cont(value, $winsor_lower) AS lower_bound,
        quantile_cont(value, $winsor_upper) AS upper_bound
    FROM indicator_values
    WHERE kind = 'numeric' AND NOT is_missing
    GROUP BY indicator_id
),

clipped AS (
    SELECT
        v.*,
        b.lower_bound,
        b.upper_bound,
        least(greatest(v.value, b.lower_bound), b.upper_bound) AS clipped_value
    FROM indicator_values AS v
    LEFT JOIN bounds AS b USING (indicator_id)
),

ranked AS (
    -- rank percentile among the cities with a value, best = 100
    SELECT
        *,
        CASE WHEN kind = 'numeric' AND NOT is_missing THEN
            percent_rank() OVER (
                PARTITION BY indicator_id, (kind = 'numeric' AND NOT is_missing)
                ORDER BY CASE WHEN direction = '+' THEN value ELSE -value END
            ) * 100
        END AS rank_score
    FROM clipped
)

SELECT
    * EXCLUDE (rank_score),
    CASE
        WHEN is_missing THEN NULL
        WHEN kind = 'scored' THEN preset_score
        WHEN $normalisation = 'rank' THEN rank_score
        WHEN upper_bound = lower_bound THEN 100.0
        WHEN direction = '+'
            THEN (clipped_value - lower_bound) / (upper_bound - lower_bound) * 100
        ELSE (upper_bound - clipped_value) / (upper_bound - lower_bound) * 100
    END AS score
FROM ranked
