-- core.city_values and the rows it rejects, from raw cells and the city mapping.
-- Every raw cell with a city name lands in exactly one of: a kept core row, or a
-- rejected row naming why (unresolved name, impossible negative value, duplicate
-- or conflicting value for one city, year, variable and source).
CREATE OR REPLACE TEMP TABLE core_candidates AS
WITH mapped AS (
    SELECT c.*, m.city_code, m.resolution, m.unresolved_reason
    FROM raw.cells AS c
    LEFT JOIN city_mapping AS m
        ON m.city_name = c.city_name
        AND m.province_name = c.province_name
        AND m.source_city_code = c.source_city_code
        AND m.year = c.year
    WHERE c.city_name <> ''
),

checked AS (
    -- first failing rule wins
    SELECT
        *,
        CASE
            WHEN city_code IS NULL
                THEN coalesce(nullif(unresolved_reason, ''), 'city name not resolved')
            WHEN value < 0 AND variable NOT IN ('gdp_index_prev_year_100')
                THEN 'impossible negative value ' || value || ' for ' || variable
        END AS problem
    FROM mapped
),

keyed AS (
    SELECT
        *,
        count(*) FILTER (WHERE problem IS NULL) OVER key_window AS key_rows,
        count(DISTINCT value) FILTER (WHERE problem IS NULL) OVER key_window AS key_values,
        row_number() OVER (
            PARTITION BY city_code, year, variable, source_id, problem IS NULL
            ORDER BY row_number, column_letter
        ) AS key_order,
        first_value(raw_row_id) OVER (
            PARTITION BY city_code, year, variable, source_id, problem IS NULL
            ORDER BY row_number, column_letter
        ) AS first_row_id
    FROM checked
    WINDOW key_window AS (PARTITION BY city_code, year, variable, source_id)
)

SELECT
    * EXCLUDE (problem),
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN key_values > 1 THEN
            'conflicting values for ' || city_code || ' ' || year || ' ' || variable
            || ' in ' || source_id || ' (' || key_rows || ' rows); fix the source or '
            || 'the crosswalk so one row remains'
        WHEN key_order > 1 THEN
            'duplicate of raw row ' || first_row_id || ' with the same value'
    END AS problem
FROM keyed
