-- Trend indicators over the window $window_start .. $data_year, on the city's one
-- chosen CO2 source (never spliced): CO2 growth (CAGR), Tapio decoupling against
-- real GDP, and the Mann-Kendall peak-trend test. Cities without a source that
-- covers the whole window get no row here and are reported missing.
WITH co2 AS (
    SELECT v.city_code, v.year, v.value AS co2_mt, v.raw_row_id, v.source_id
    FROM core.city_values AS v
    JOIN co2_choice AS c USING (city_code, source_id)
    WHERE v.variable = 'co2_mt'
      AND c.covers_window
      AND v.year BETWEEN $window_start AND $data_year
),

ends AS (
    -- first and last year of the window, with the real GDP of those years
    SELECT
        co2.city_code,
        any_value(co2.source_id) AS source_id,
        max(co2.co2_mt) FILTER (WHERE co2.year = $window_start) AS co2_start,
        max(co2.co2_mt) FILTER (WHERE co2.year = $data_year) AS co2_end,
        max(co2.raw_row_id) FILTER (WHERE co2.year = $window_start) AS co2_start_row,
        max(co2.raw_row_id) FILTER (WHERE co2.year = $data_year) AS co2_end_row
    FROM co2
    GROUP BY co2.city_code
),

gdp AS (
    SELECT
        city_code,
        max(value) FILTER (WHERE year = $window_start) AS gdp_start,
        max(value) FILTER (WHERE year = $data_year) AS gdp_end,
        max(raw_row_id) FILTER (WHERE year = $window_start) AS gdp_start_row,
        max(raw_row_id) FILTER (WHERE year = $data_year) AS gdp_end_row
    FROM core.city_values
    WHERE variable = 'gdp_real_2000_100m_yuan'
      AND year IN ($window_start, $data_year)
    GROUP BY city_code
),

tapio AS (
    SELECT
        e.*,
        g.gdp_start,
        g.gdp_end,
        g.gdp_start_row,
        g.gdp_end_row,
        e.co2_end - e.co2_start AS d_co2,
        g.gdp_end - g.gdp_start AS d_gdp,
        ((e.co2_end - e.co2_start) / e.co2_start)
            / nullif((g.gdp_end - g.gdp_start) / g.gdp_start, 0) AS elasticity
    FROM ends AS e
    JOIN gdp AS g USING (city_code)
    WHERE g.gdp_start > 0 AND g.gdp_end > 0 AND e.co2_start > 0
),

tapio_state AS (
    SELECT
        *,
        CASE
            WHEN d_gdp > 0 AND d_co2 < 0 THEN 'strong_decoupling'
            WHEN d_gdp > 0 AND elasticity < $tapio_lower THEN 'weak_decoupling'
            WHEN d_gdp > 0 AND elasticity <= $tapio_upper THEN 'expansive_coupling'
            WHEN d_gdp > 0 THEN 'expansive_negative_decoupling'
            WHEN d_gdp < 0 AND d_co2 > 0 THEN 'strong_negative_decoupling'
            WHEN d_gdp < 0 AND elasticity > $tapio_upper THEN 'recessive_decoupling'
            WHEN d_gdp < 0 AND elasticity >= $tapio_lower THEN 'recessive_coupling'
            WHEN d_gdp < 0 THEN 'weak_negative_decoupling'
        END AS state
    FROM tapio
),

mann_kendall AS (
    -- S = sum over year pairs i < j of sign(x_j - x_i); n = years in the window
    SELECT
        a.city_code,
        sum(sign(b.co2_mt - a.co2_mt))::INTEGER AS s,
        count(DISTINCT a.year) + 1 AS n,
        count(*) FILTER (WHERE b.co2_mt = a.co2_mt) AS ties
    FROM co2 AS a
    JOIN co2 AS b ON a.city_code = b.city_code AND a.year < b.year
    GROUP BY a.city_code
),

series AS (
    SELECT
        city_code,
        arg_max(year, co2_mt) AS peak_year,
        list(raw_row_id ORDER BY year) AS row_ids,
        string_agg(year || ':' || round(co2_mt, 4), ' ' ORDER BY year) AS values_text
    FROM co2
    GROUP BY city_code
)

SELECT
    city_code,
    'co2_growth' AS indicator_id,
    $data_year AS data_year,
    $window_start AS window_start,
    (power(co2_end / co2_start, 1.0 / ($data_year - $window_start)) - 1) * 100 AS value,
    '% per year' AS unit,
    format(
        'CAGR of co2_mt {} -> {} over {} years; co2 source {}',
        co2_start, co2_end, $data_year - $window_start, source_id
    ) AS detail,
    CAST(NULL AS VARCHAR) AS category,
    CAST(NULL AS DOUBLE) AS preset_score,
    false AS is_proxy,
    [co2_start_row, co2_end_row] AS input_row_ids
FROM ends
WHERE co2_start > 0 AND co2_end > 0

UNION ALL

SELECT
    city_code,
    'decoupling',
    $data_year,
    $window_start,
    elasticity,
    'Tapio elasticity',
    format(
        'state {}; dCO2/CO2_0 = {:.6f}, dGDP/GDP_0 = {:.6f} (real GDP, 2000 prices); co2 source {}',
        state, d_co2 / co2_start, d_gdp / gdp_start, source_id
    ),
    state,
    NULL,
    false,
    [co2_start_row, co2_end_row, gdp_start_row, gdp_end_row]
FROM tapio_state
WHERE state IS NOT NULL

UNION ALL

SELECT
    m.city_code,
    'peak_trend',
    $data_year,
    $window_start,
    m.s,
    'Mann-Kendall S',
    format(
        'n = {}, exact two-sided p = {:.4f}, series max in {}; series {}',
        m.n, p.p_two_sided, s.peak_year, s.values_text
    ),
    CASE
        WHEN p.p_two_sided < $alpha AND m.s < 0 THEN 'significant_down'
        WHEN p.p_two_sided < $alpha AND m.s > 0 THEN 'significant_up'
        WHEN s.peak_year < $data_year THEN 'no_trend_peak_before_end'
        ELSE 'no_trend_peak_at_end'
    END,
    NULL,
    false,
    s.row_ids
FROM mann_kendall AS m
JOIN series AS s USING (city_code)
JOIN mk_exact AS p ON p.n = m.n AND p.s_abs = abs(m.s)
WHERE m.n = $data_year - $window_start + 1
