-- Level indicators of the data year: CO2 per capita, carbon intensity and the
-- secondary-industry share. Each is computed per year from inputs of that same
-- year, then the latest year in $data_year - $fallback_years .. $data_year is kept
-- (a stand-in year is marked in `detail`).
WITH co2 AS (
    -- CO2 of the city's chosen source
    SELECT v.city_code, v.year, v.value AS co2_mt, v.raw_row_id, v.source_id
    FROM core.city_values AS v
    JOIN co2_choice AS c USING (city_code, source_id)
    WHERE v.variable = 'co2_mt'
),

population AS (
    -- resident population; the interpolated column only where the raw cell is empty
    SELECT
        city_code,
        year,
        arg_min(value, variable = 'population_resident_interpolated_10k') AS pop_10k,
        arg_min(raw_row_id, variable = 'population_resident_interpolated_10k') AS raw_row_id,
        bool_and(variable = 'population_resident_interpolated_10k') AS interpolated
    FROM core.city_values
    WHERE variable IN ('population_resident_10k', 'population_resident_interpolated_10k')
      AND value > 0
    GROUP BY city_code, year
),

real_gdp AS (
    SELECT city_code, year, value AS gdp_real_100m_yuan, raw_row_id
    FROM core.city_values
    WHERE variable = 'gdp_real_2000_100m_yuan' AND value > 0
),

nominal AS (
    -- nominal GDP and secondary value added of the same source and year
    SELECT
        city_code,
        year,
        max(value) FILTER (WHERE variable = 'gdp_nominal_100m_yuan') AS gdp_100m_yuan,
        max(value) FILTER (WHERE variable = 'va_secondary_100m_yuan') AS va2_100m_yuan,
        max(raw_row_id) FILTER (WHERE variable = 'gdp_nominal_100m_yuan') AS gdp_row,
        max(raw_row_id) FILTER (WHERE variable = 'va_secondary_100m_yuan') AS va2_row
    FROM core.city_values
    WHERE variable IN ('gdp_nominal_100m_yuan', 'va_secondary_100m_yuan')
      AND source_id = 'city_gdp_industry'
    GROUP BY city_code, year
),

per_year AS (
    SELECT
        co2.city_code,
        'co2_per_capita' AS indicator_id,
        co2.year,
        co2.co2_mt * 100 / population.pop_10k AS value,
        't CO2 per resident' AS unit,
        'co2_mt * 100 / population_10k; co2 source ' || co2.source_id
            || CASE WHEN population.interpolated
                THEN '; population interpolated by the source' ELSE '' END AS detail,
        [co2.raw_row_id, population.raw_row_id] AS input_row_ids
    FROM co2
    JOIN population USING (city_code, year)

    UNION ALL

    SELECT
        co2.city_code,
        'carbon_intensity',
        co2.year,
        co2.co2_mt * 100 / real_gdp.gdp_real_100m_yuan,
        't CO2 per 10k yuan (2000 prices)',
        'co2_mt * 100 / gdp_real_2000_100m_yuan; co2 source ' || co2.source_id,
        [co2.raw_row_id, real_gdp.raw_row_id]
    FROM co2
    JOIN real_gdp USING (city_code, year)

    UNION ALL

    SELECT
        city_code,
        'secondary_share',
        year,
        va2_100m_yuan / gdp_100m_yuan * 100,
        '%',
        'va_secondary_100m_yuan / gdp_nominal_100m_yuan * 100',
        [va2_row, gdp_row]
    FROM nominal
    WHERE gdp_100m_yuan > 0 AND va2_100m_yuan IS NOT NULL
)

SELECT
    city_code,
    indicator_id,
    max(year) AS data_year,
    max(year) AS window_start,
    arg_max(value, year) AS value,
    any_value(unit) AS unit,
    arg_max(detail, year)
        || CASE WHEN max(year) < $data_year
            THEN '; stand-in from ' || max(year) ELSE '' END AS detail,
    CAST(NULL AS VARCHAR) AS category,
    CAST(NULL AS DOUBLE) AS preset_score,
    false AS is_proxy,
    arg_max(input_row_ids, year) AS input_row_ids
FROM per_year
WHERE year BETWEEN $data_year - $fallback_years AND $data_year
GROUP BY city_code, indicator_id
