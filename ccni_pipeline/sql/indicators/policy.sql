-- Policy indicators for every candidate city: low-carbon pilot status, and the
-- carbon peak and neutrality targets from the policy register (the statement that
-- counts at the cut-off date) and the Net Zero Tracker rows. Only designations
-- and statements made by the edition's cut-off count. The Net Zero Tracker rows
-- have no announcement dates, so alone they leave a target undetermined. `category` carries the
-- state that the method's scoring table turns into a score; 'undetermined' means
-- the only statement is undated, so the indicator is missing.
WITH province_batches AS (
    SELECT province_code, min(batch_year) AS batch_year
    FROM ref.pilot_provinces
    GROUP BY province_code
),

city_designations AS (
    -- City-level pilots: every row of the 92-city list, and the rows of the
    -- 135-row list that are not just its expansion of a pilot province to all its
    -- cities (same province, same year as the province's batch).
    SELECT v.city_code, v.value AS pilot_year, v.raw_row_id, v.source_id
    FROM core.city_values AS v
    LEFT JOIN ref.cities AS c USING (city_code)
    LEFT JOIN province_batches AS b ON b.province_code = c.province_code
    WHERE v.variable = 'pilot_year'
      AND (
          v.source_id = 'pilot_cities_92'
          OR (v.source_id = 'pilot_cities_135'
              AND (b.batch_year IS NULL OR v.value <> b.batch_year))
      )
),

city_pilot AS (
    SELECT
        city_code,
        min(pilot_year)::INTEGER AS pilot_year,
        -- ties (both lists give the same year) go to the 92-city list, then the
        -- first row id, so reruns name the same source
        arg_min(
            raw_row_id, (pilot_year, source_id <> 'pilot_cities_92', raw_row_id)
        ) AS raw_row_id,
        arg_min(
            source_id, (pilot_year, source_id <> 'pilot_cities_92', raw_row_id)
        ) AS source_id
    FROM city_designations
    WHERE pilot_year <= $cutoff_year
    GROUP BY city_code
),

province_pilot AS (
    SELECT province_code, min(batch_year) AS pilot_year
    FROM ref.pilot_provinces
    WHERE batch_year <= $cutoff_year
    GROUP BY province_code
),

tracker AS (
    -- Net Zero Tracker: any row means the city was reviewed. The rows carry no
    -- announcement date, so the cut-off cannot be applied to them.
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
),

register_state AS (
    -- the register's state per candidate city and commitment at the cut-off
    SELECT
        c.city_code,
        k.commitment,
        t.target_year,
        t.status,
        t.url,
        t.date_announced,
        t.register_row,
        u.register_row AS undetermined_row,
        r.city_code IS NOT NULL AS reviewed
    FROM candidate_cities AS c
    CROSS JOIN (SELECT unnest(['peak', 'neutrality']) AS commitment) AS k
    LEFT JOIN policy_current AS t
        ON t.city_code = c.city_code AND t.commitment = k.commitment
    LEFT JOIN policy_undetermined AS u
        ON u.city_code = c.city_code AND u.commitment = k.commitment
    LEFT JOIN policy_reviewed AS r ON r.city_code = c.city_code
),

targets AS (
    SELECT
        s.city_code,
        s.commitment || '_target' AS indicator_id,
        s.target_year,
        CASE
            WHEN s.status = 'peaked' THEN 'peaked'
            WHEN s.target_year IS NOT NULL THEN 'target_year'
            WHEN s.status IS NOT NULL THEN 'plan_without_year'
            WHEN s.undetermined_row IS NOT NULL THEN 'undetermined'
            WHEN s.commitment = 'neutrality' AND tr.neutrality_year IS NOT NULL
                THEN 'undetermined'
            WHEN s.reviewed OR tr.city_code IS NOT NULL THEN 'reviewed_nothing_found'
        END AS category,
        CASE
            WHEN s.status IS NOT NULL THEN
                'policy register row ' || s.register_row || ': ' || s.status
                || coalesce(', target ' || s.target_year, ', no target year')
                || ', announced ' || s.date_announced || ', ' || s.url
            WHEN s.undetermined_row IS NOT NULL THEN
                'the only statement (policy register row ' || s.undetermined_row
                || ') has no announcement date, so it cannot be placed before the '
                || 'cut-off ' || $cutoff_date
            WHEN s.commitment = 'neutrality' AND tr.neutrality_year IS NOT NULL
                THEN 'the Net Zero Tracker gives ' || tr.statements
                || ' but no announcement date, so it cannot be placed before the '
                || 'cut-off ' || $cutoff_date
            ELSE 'reviewed (policy register'
                || CASE WHEN tr.city_code IS NOT NULL THEN ', Net Zero Tracker' ELSE '' END
                || '): no ' || s.commitment || ' target announced by ' || $cutoff_date
        END AS detail,
        CASE WHEN s.status IS NULL AND s.commitment = 'neutrality'
            THEN coalesce(tr.row_ids, []) ELSE [] END AS input_row_ids
    FROM register_state AS s
    LEFT JOIN tracker AS tr USING (city_code)
)

SELECT
    c.city_code,
    'pilot_status' AS indicator_id,
    $data_year AS data_year,
    $data_year AS window_start,
    coalesce(cp.pilot_year, pp.pilot_year) AS value,
    'pilot year' AS unit,
    CASE
        WHEN cp.city_code IS NOT NULL
            THEN 'city-level low-carbon pilot since ' || cp.pilot_year || ' (' || cp.source_id || ')'
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
    city_code,
    indicator_id,
    $data_year,
    $data_year,
    target_year,
    'target year',
    detail,
    category,
    NULL,
    false,
    input_row_ids
FROM targets
WHERE category IS NOT NULL
