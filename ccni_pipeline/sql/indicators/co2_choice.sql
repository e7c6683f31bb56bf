-- co2_choice: for every city, the one CO2 source its edition uses, never spliced.
-- A source qualifies for the trend window when it has every year of the window;
-- the first qualifying source in the method's precedence wins. Cities that no
-- source covers for the whole window fall back, for level indicators only, to
-- the first source with any value in the fallback range ($data_year - $fallback_years
-- .. $data_year); `covers_window` shows which case applies.
CREATE OR REPLACE TEMP TABLE co2_choice AS
WITH coverage AS (
    -- years with a CO2 value, per city and source
    SELECT
        city_code,
        source_id,
        count(DISTINCT year) FILTER (
            WHERE year BETWEEN $window_start AND $data_year
        ) AS window_years,
        count(DISTINCT year) FILTER (
            WHERE year BETWEEN $data_year - $fallback_years AND $data_year
        ) AS level_years,
        list_position($precedence, source_id) AS precedence_rank
    FROM core.city_values
    WHERE variable = 'co2_mt'
      AND list_position($precedence, source_id) IS NOT NULL
    GROUP BY city_code, source_id
),

full_window AS (
    SELECT city_code, arg_min(source_id, precedence_rank) AS source_id
    FROM coverage
    WHERE window_years = $data_year - $window_start + 1
    GROUP BY city_code
),

level_only AS (
    SELECT city_code, arg_min(source_id, precedence_rank) AS source_id
    FROM coverage
    WHERE level_years > 0
    GROUP BY city_code
)

SELECT
    coalesce(f.city_code, l.city_code) AS city_code,
    coalesce(f.source_id, l.source_id) AS source_id,
    f.city_code IS NOT NULL AS covers_window
FROM full_window AS f
FULL OUTER JOIN level_only AS l ON f.city_code = l.city_code
