-- Indicators from the city statistical yearbook: electricity use per unit GDP and
-- public buses per 10,000 residents. Numerator and denominator always share one
-- scope (whole_city = 全市, districts = 市辖区), which `detail` records. Each is
-- computed per year and scope; the latest year in $data_year - $fallback_years ..
-- $data_year is kept. A stand-in never crosses a scope change: every city's
-- value must have the scope the yearbook used in the latest of those years with
-- any value (whole_city where both scopes appear that year).
WITH yearbook AS (
    SELECT
        city_code,
        year,
        regexp_extract(variable, '_(whole_city|districts)$', 1) AS scope,
        regexp_replace(variable, '_(whole_city|districts)$', '') AS base,
        value,
        raw_row_id,
        source_id
    FROM core.city_values
    WHERE source_id LIKE 'ccsy_%'
      AND year BETWEEN $data_year - $fallback_years AND $data_year
),

panel_gdp AS (
    -- whole-city nominal GDP of the city panel, for years whose yearbook lacks it
    SELECT city_code, year, 'whole_city' AS scope, 'gdp_10k_yuan' AS base,
           value * 10000 AS value, raw_row_id, source_id
    FROM core.city_values
    WHERE variable = 'gdp_nominal_100m_yuan' AND source_id = 'city_gdp_industry'
      AND year BETWEEN $data_year - $fallback_years AND $data_year
),

gdp AS (
    -- the yearbook's GDP of a scope wins over the panel's
    SELECT city_code, year, scope,
           arg_min(value, source_id NOT LIKE 'ccsy_%') AS gdp_10k_yuan,
           arg_min(raw_row_id, source_id NOT LIKE 'ccsy_%') AS raw_row_id,
           arg_min(source_id, source_id NOT LIKE 'ccsy_%') AS source_id
    FROM (
        SELECT * FROM yearbook WHERE base = 'gdp_10k_yuan'
        UNION ALL SELECT * FROM panel_gdp
    )
    WHERE value > 0
    GROUP BY city_code, year, scope
),

electricity AS (
    SELECT e.city_code, e.year, e.scope,
           e.value * 10000 / g.gdp_10k_yuan AS value,
           format('electricity_total_10k_kwh * 10000 / gdp_10k_yuan; scope {}; '
                  || 'electricity from {}, GDP from {}', e.scope, e.source_id,
                  g.source_id) AS detail,
           [e.raw_row_id, g.raw_row_id] AS input_row_ids
    FROM yearbook AS e
    JOIN gdp AS g USING (city_code, year, scope)
    WHERE e.base = 'electricity_total_10k_kwh' AND e.value > 0
),

population AS (
    SELECT city_code, year, scope,
           arg_min(value, base <> 'population_resident_10k') AS population_10k,
           arg_min(raw_row_id, base <> 'population_resident_10k') AS raw_row_id,
           arg_min(base, base <> 'population_resident_10k') AS population_kind
    FROM yearbook
    WHERE base IN ('population_resident_10k', 'population_registered_10k') AND value > 0
    GROUP BY city_code, year, scope
),

buses AS (
    SELECT b.city_code, b.year, b.scope,
           b.value / p.population_10k AS value,
           format('buses_operating / {}; scope {}; {}', p.population_kind, b.scope,
                  b.source_id) AS detail,
           [b.raw_row_id, p.raw_row_id] AS input_row_ids
    FROM yearbook AS b
    JOIN population AS p USING (city_code, year, scope)
    WHERE b.base = 'buses_operating'
),

all_years AS (
    SELECT *, 'electricity_intensity' AS indicator_id, 'kWh per 10k yuan' AS unit
    FROM electricity
    UNION ALL
    SELECT *, 'buses_per_10k', 'buses per 10k residents'
    FROM buses
),

reference_scope AS (
    -- the scope of the latest year with any value, per indicator
    SELECT indicator_id, arg_max(scope, (year, scope = 'whole_city')) AS scope
    FROM all_years
    GROUP BY indicator_id
),

per_year AS (
    SELECT a.*
    FROM all_years AS a
    JOIN reference_scope AS r USING (indicator_id, scope)
)

SELECT
    city_code,
    indicator_id,
    max(year) AS data_year,
    max(year) AS window_start,
    arg_max(value, (year, scope = 'whole_city')) AS value,
    any_value(unit) AS unit,
    arg_max(detail, (year, scope = 'whole_city'))
        || CASE WHEN max(year) < $data_year
            THEN '; stand-in from ' || max(year) ELSE '' END AS detail,
    CAST(NULL AS VARCHAR) AS category,
    CAST(NULL AS DOUBLE) AS preset_score,
    false AS is_proxy,
    arg_max(input_row_ids, (year, scope = 'whole_city')) AS input_row_ids
FROM per_year
GROUP BY city_code, indicator_id
