-- Rank shifts between two methods of one edition, largest first. For every city
-- ranked under either method: both ranks and composites, the shift (rank under
-- B minus rank under A; negative = moved up) and the three indicators whose
-- contribution to the composite (applied weight x score) changed most.
WITH composites AS (
    SELECT
        a.city_code,
        a.composite AS composite_a,
        b.composite AS composite_b,
        a.rank AS rank_a,
        b.rank AS rank_b
    FROM out.composite_scores AS a
    JOIN out.composite_scores AS b
        ON b.city_code = a.city_code AND b.edition = a.edition
    WHERE a.edition = $edition AND a.method_id = $method_a AND b.method_id = $method_b
),

contributions AS (
    -- change of each indicator's share of the composite
    SELECT
        a.city_code,
        a.indicator_id,
        coalesce(b.applied_weight * b.score, 0)
            - coalesce(a.applied_weight * a.score, 0) AS contribution_change
    FROM out.indicator_scores AS a
    JOIN out.indicator_scores AS b
        ON b.city_code = a.city_code
        AND b.indicator_id = a.indicator_id
        AND b.edition = a.edition
    WHERE a.edition = $edition AND a.method_id = $method_a AND b.method_id = $method_b
),

top_movers AS (
    SELECT
        city_code,
        string_agg(
            indicator_id || ' ' || printf('%+.2f', contribution_change), '; '
            ORDER BY abs(contribution_change) DESC
        ) FILTER (WHERE mover_rank <= 3) AS indicators_moved_most
    FROM (
        SELECT
            *,
            row_number() OVER (
                PARTITION BY city_code ORDER BY abs(contribution_change) DESC, indicator_id
            ) AS mover_rank
        FROM contributions
    )
    GROUP BY city_code
)

SELECT
    c.city_code,
    r.name_zh AS city_name_zh,
    r.name_en AS city_name_en,
    c.rank_a,
    c.rank_b,
    c.rank_b - c.rank_a AS rank_shift,
    c.composite_a,
    c.composite_b,
    c.composite_b - c.composite_a AS composite_change,
    t.indicators_moved_most
FROM composites AS c
JOIN ref.cities AS r USING (city_code)
LEFT JOIN top_movers AS t USING (city_code)
WHERE c.rank_a IS NOT NULL OR c.rank_b IS NOT NULL
ORDER BY abs(c.rank_b - c.rank_a) DESC NULLS FIRST, abs(c.composite_b - c.composite_a) DESC,
    c.city_code
