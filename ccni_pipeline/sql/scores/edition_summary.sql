-- Edition summary over the rated cities, for comparison with a published report:
-- mean change of carbon intensity over the window, mean CO2 growth rate, share of
-- cities per decoupling state, the ten largest emitters' share of total CO2 in the
-- data year, and the number of cities flagged for missing clean-energy data.
-- Expects the temporary table co2_choice of the edition (see co2_choice.sql).
WITH rated AS (
    SELECT DISTINCT city_code
    FROM out.indicator_values
    WHERE edition = $edition AND method_id = $method_id
),

intensity AS (
    -- t CO2 per 10k yuan of real GDP at both ends of the window, one CO2 source
    SELECT
        co2.city_code,
        max(co2.value * 100 / gdp.value) FILTER (WHERE co2.year = $window_start) AS start_value,
        max(co2.value * 100 / gdp.value) FILTER (WHERE co2.year = $data_year) AS end_value
    FROM core.city_values AS co2
    JOIN co2_choice AS c ON c.city_code = co2.city_code AND c.source_id = co2.source_id
    JOIN core.city_values AS gdp
        ON gdp.city_code = co2.city_code
        AND gdp.year = co2.year
        AND gdp.variable = 'gdp_real_2000_100m_yuan'
    WHERE co2.variable = 'co2_mt'
      AND co2.year IN ($window_start, $data_year)
      AND c.covers_window
      AND gdp.value > 0
      AND co2.city_code IN (SELECT city_code FROM rated)
    GROUP BY co2.city_code
),

level_co2 AS (
    SELECT co2.city_code, co2.value AS co2_mt
    FROM core.city_values AS co2
    JOIN co2_choice AS c ON c.city_code = co2.city_code AND c.source_id = co2.source_id
    WHERE co2.variable = 'co2_mt' AND co2.year = $data_year
      AND co2.city_code IN (SELECT city_code FROM rated)
),

top_ten AS (
    SELECT sum(co2_mt) AS top_co2
    FROM (SELECT co2_mt FROM level_co2 ORDER BY co2_mt DESC LIMIT 10)
),

values_of AS (
    SELECT indicator_id, value, category, is_proxy, is_missing, city_code
    FROM out.indicator_values
    WHERE edition = $edition AND method_id = $method_id
)

SELECT
    'carbon_intensity_change_pct' AS metric,
    avg((end_value / start_value - 1) * 100) AS value,
    count(*) AS cities,
    'mean over cities of the change in t CO2 per 10k yuan (2000 prices), '
        || $window_start || '-' || $data_year AS definition
FROM intensity
WHERE start_value > 0 AND end_value IS NOT NULL

UNION ALL

SELECT
    'co2_growth_pct_per_year',
    avg(value),
    count(*),
    'mean over cities of the CO2 compound annual growth rate, '
        || $window_start || '-' || $data_year
FROM values_of
WHERE indicator_id = 'co2_growth' AND NOT is_missing

UNION ALL

SELECT
    state || '_share_pct',
    count(*) FILTER (WHERE category = state) * 100.0 / count(*),
    count(*),
    'share of cities with a decoupling state in ' || state
FROM values_of
CROSS JOIN (
    SELECT unnest([
        'strong_decoupling', 'weak_decoupling', 'expansive_coupling',
        'expansive_negative_decoupling', 'recessive_decoupling', 'recessive_coupling',
        'weak_negative_decoupling', 'strong_negative_decoupling'
    ]) AS state
)
WHERE indicator_id = 'decoupling' AND NOT is_missing
GROUP BY state

UNION ALL

SELECT
    'top10_emitters_share_pct',
    (SELECT top_co2 FROM top_ten) * 100 / sum(co2_mt),
    count(*),
    'share of the ten largest emitters in the total CO2 of the rated cities, '
        || $data_year
FROM level_co2

UNION ALL

SELECT
    'cities_flagged_clean_energy',
    count(DISTINCT city_code),
    (SELECT count(*) FROM rated),
    'cities whose non-fossil share is a provincial proxy or missing, or whose '
        || 'electricity use is missing'
FROM values_of
WHERE (indicator_id = 'non_fossil_share' AND (is_proxy OR is_missing))
   OR (indicator_id = 'electricity_intensity' AND is_missing)
