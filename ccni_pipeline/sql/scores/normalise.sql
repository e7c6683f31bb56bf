-- Indicator scores on 0-100. Numeric indicators are winsorised at the method's
-- quantiles of the rated cities, then scaled by the method's normalisation with
-- the direction applied (a "-" indicator scores high when its value is low):
--   minmax     (clipped - lower) / (upper - lower) * 100
--   rank       percentile rank among the cities with a value * 100
--   zscore     z of the clipped value; 100 * Phi(z) is applied afterwards in Python
--   goalposts  (value - goalpost_low) / (goalpost_high - goalpost_low) * 100, clipped
-- When all cities share one value each scores 100. Scored indicators keep the
-- score their state or target year earned.
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

moments AS (
    -- mean and standard deviation of the clipped values, for z-scores
    SELECT
        indicator_id,
        avg(clipped_value) AS clipped_mean,
        stddev_pop(clipped_value) AS clipped_sd
    FROM clipped
    WHERE kind = 'numeric' AND NOT is_missing
    GROUP BY indicator_id
),

ranked AS (
    -- rank percentile among the cities with a value, best = 100
    SELECT
        c.*,
        m.clipped_mean,
        m.clipped_sd,
        CASE WHEN c.kind = 'numeric' AND NOT c.is_missing THEN
            percent_rank() OVER (
                PARTITION BY c.indicator_id, (c.kind = 'numeric' AND NOT c.is_missing)
                ORDER BY CASE WHEN c.direction = '+' THEN c.value ELSE -c.value END
            ) * 100
        END AS rank_score
    FROM clipped AS c
    LEFT JOIN moments AS m USING (indicator_id)
),

goalposted AS (
    SELECT
        r.*,
        g.goalpost_low,
        g.goalpost_high,
        least(greatest(
            (r.value - g.goalpost_low) / (g.goalpost_high - g.goalpost_low), 0
        ), 1) * 100 AS goalpost_position
    FROM ranked AS r
    LEFT JOIN goalposts AS g USING (indicator_id)
)

SELECT
    * EXCLUDE (rank_score, goalpost_position),
    CASE
        WHEN kind = 'numeric' AND NOT is_missing AND $normalisation = 'zscore'
            AND clipped_sd > 0
            THEN (clipped_value - clipped_mean) / clipped_sd
                * CASE WHEN direction = '+' THEN 1 ELSE -1 END
    END AS z_value,
    CASE
        WHEN is_missing THEN NULL
        WHEN kind = 'scored' THEN preset_score
        WHEN $normalisation = 'goalposts' THEN
            CASE WHEN direction = '+' THEN goalpost_position ELSE 100 - goalpost_position END
        WHEN upper_bound = lower_bound THEN 100.0
        WHEN $normalisation = 'rank' THEN rank_score
        WHEN $normalisation = 'zscore' THEN NULL
        WHEN direction = '+'
            THEN (clipped_value - lower_bound) / (upper_bound - lower_bound) * 100
        ELSE (upper_bound - clipped_value) / (upper_bound - lower_bound) * 100
    END AS score
FROM goalposted
