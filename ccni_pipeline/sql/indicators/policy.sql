-- Policy indicators for every candidate city: low-carbon pilot status and the
-- carbon-neutrality target from the Net Zero Tracker rows. Only designations made
-- by the edition's cut-off year count. `category` carries the state that the
-- method's scoring table turns into a score.
WITH city_pilot AS (
    -- city-level pilots of the national batches (the 92-city list)
    SELECT city_code, min(value)::INTEGER AS pilot_year, arg_min(raw_row_id, value) AS raw_row_id
    FROM core.city_values
    WHERE variable = 'pilot_year' AND source_id = 'pilot_cities_92'
      AND value <= $cutoff_year
    GROUP BY city_code
),

province_pilot AS (
    SELECT province_code, min(batch_year) AS pilot_year
    FROM ref.pilot_provinces
    WHERE batch_year <= $cutoff_year
    GROUP BY province_code
),

tracker AS (
    -- Net Zero Tracker: any row means the city was reviewed
    SELECT
        city_code,
        min(value) FILTER (
            WHERE value_text IN ('Net zero', 'Climate neutral', 'Carbon neutral(ity)')
        )::INTEGER AS neutrality_year,
        list(raw_row_id) AS row_ids,
        string_agg(value_text || ' ' || value::INTEGER, '; ') AS statements
    FROM core.city_values
    WHERE variable = 'target_year' AND source_id = 'net_zero_tracker'
    GROUP BY city_code
)

SELECT
    c.city_code,
    'pilot_status' AS indicator_id,
    $data_year AS data_year,
    $data_year AS window_start,
    coalesce(cp.pilot_year, pp.pilot_year) AS value,
    'pilot year' AS unit,
    CASE
        WHEN cp.city_code IS NOT NULL THEN 'city-level low-carbon pilot since ' || cp.pilot_year
        WHEN pp.province_code IS NOT NULL
            THEN 'inside pilot province ' || pp.province_code || ' since ' || pp.pilot_year
        ELSE 'no city-level or provincial pilot designation by ' || $cutoff_year
    END AS detail,
    CASE
        WHEN cp.city_code IS NOT NULL THEN 'city_pilot'
        WHEN pp.province_code IS NOT NULL THEN 'province_pilot'
        ELSE 'none'
    END AS category,
    CAST(NULL AS DOUBLE) AS preset_score,
    false AS is_proxy,
    CASE WHEN cp.raw_row_id IS NULL THEN [] ELSE [cp.raw_row_id] END AS input_row_ids
FROM candidate_cities AS c
LEFT JOIN city_pilot AS cp USING (city_code)
LEFT JOIN province_pilot AS pp ON pp.province_code = c.province_code

UNION ALL

SELECT
    t.city_code,
    'neutrality_target',
    $data_year,
    $data_year,
    t.neutrality_year,
    'target year',
    'Net Zero Tracker: ' || t.statements
        || CASE WHEN t.neutrality_year IS NULL
            THEN '; reviewed, no neutrality target found' ELSE '' END,
    CASE WHEN t.neutrality_year IS NULL THEN 'reviewed_nothing_found' ELSE 'target_year' END,
    NULL,
    false,
    t.row_ids
FROM tracker AS t
JOIN candidate_cities USING (city_code)
