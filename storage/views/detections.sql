-- One row per page and detector version (n_signatures = 0 records an unsigned page). Written last for a
-- document by the detect flow, so it is that flow's commit marker.
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY page_id, detector_name, detector_version ORDER BY created_at, run_id) AS rn
    FROM _src_detections
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
