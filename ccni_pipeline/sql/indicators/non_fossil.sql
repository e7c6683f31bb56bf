-- Non-fossil share: no loaded source gives a city's energy mix, so every candidate
-- city takes its province's non-fossil share of electricity generation in the
-- latest year within $data_year - $fallback_years .. $data_year, marked as a proxy.
WITH generation AS (
    -- December year-to-date generation by technology, per province and year
    SELECT
        province_code,
        year,
        sum(value) FILTER (WHERE variable IN (
            'power_gen_hydro_100m_kwh', 'power_gen_wind_100m_kwh',
            'power_gen_nuclear_100m_kwh', 'power_gen_solar_100m_kwh'
        )) AS non_fossil,
        sum(value) FILTER (WHERE variable IN (
            'power_gen_thermal_100m_kwh', 'power_gen_hydro_100m_kwh',
            'power_gen_wind_100m_kwh', 'power_gen_nuclear_100m_kwh',
            'power_gen_solar_100m_kwh'
        )) AS total,
        count(*) FILTER (WHERE variable = 'power_gen_thermal_100m_kwh') AS has_thermal,
        bool_or(value_text LIKE 'estimated%') AS has_estimate,
        list(raw_row_id ORDER BY variable) AS row_ids
    FROM core.province_values
    WHERE variable LIKE 'power_gen_%'
      AND year BETWEEN $data_year - $fallback_years AND $data_year
    GROUP BY province_code, year
),

latest AS (
    SELECT
        province_code,
        max(year) AS year,
        arg_max(non_fossil / total * 100, year) AS share_pct,
        arg_max(row_ids, year) AS row_ids,
        arg_max(has_estimate, year) AS has_estimate
    FROM generation
    WHERE total > 0 AND has_thermal > 0
    GROUP BY province_code
)

SELECT
    c.city_code,
    'non_fossil_share' AS indicator_id,
    l.year AS data_year,
    l.year AS window_start,
    l.share_pct AS value,
    '%' AS unit,
    'proxy=province: non-fossil share of electricity generation of province '
        || l.province_code
        || CASE WHEN l.has_estimate
            THEN '; includes annual totals estimated from year-to-date months' ELSE '' END
        || CASE WHEN l.year < $data_year THEN '; stand-in from ' || l.year ELSE '' END
        AS detail,
    CAST(NULL AS VARCHAR) AS category,
    CAST(NULL AS DOUBLE) AS preset_score,
    true AS is_proxy,
    l.row_ids AS input_row_ids
FROM candidate_cities AS c
JOIN latest AS l ON l.province_code = c.province_code
