-- Statistics, accounting and disclosure: the share of the listed official
-- statistics that loaded sources provide for the city in the data year exactly.
-- A statistic is present when any variable mapped to it has a value; a
-- statistic mapped to no variable counts against every city alike.
WITH statistic_presence AS (
    SELECT
        c.city_code,
        m.statistic,
        count(v.variable) > 0 AS present,
        list(v.raw_row_id) FILTER (WHERE v.raw_row_id IS NOT NULL) AS row_ids
    FROM candidate_cities AS c
    CROSS JOIN disclosure_map AS m
    LEFT JOIN core.city_values AS v
        ON v.city_code = c.city_code
        AND v.variable = m.variable
        AND v.year = $data_year
    GROUP BY c.city_code, m.statistic
)

SELECT
    city_code,
    'disclosure' AS indicator_id,
    $data_year AS data_year,
    $data_year AS window_start,
    avg(present::INTEGER) * 100 AS value,
    '%' AS unit,
    'statistics present: '
        || coalesce(string_agg(statistic, ', ' ORDER BY statistic) FILTER (WHERE present), 'none')
        || '; absent: '
        || coalesce(string_agg(statistic, ', ' ORDER BY statistic) FILTER (WHERE NOT present), 'none')
        AS detail,
    CAST(NULL AS VARCHAR) AS category,
    avg(present::INTEGER) * 100 AS preset_score,
    false AS is_proxy,
    flatten(list(row_ids)) AS input_row_ids
FROM statistic_presence
GROUP BY city_code
