-- The models runs of this lake have used: one row per kind, name and version, as first registered (a flow
-- refuses other weights under a registered name and version, so there is one sha256 each).
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY kind, name, version ORDER BY registered_at, run_id) AS rn
    FROM _src_models
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
