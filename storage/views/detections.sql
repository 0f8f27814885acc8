-- One row per page and detector version (n_signatures = 0 records an unsigned page). Written last for a
-- document by the detect flow, so it is that flow's commit marker. A page detected twice by the same version
-- keeps its first row; only keys seen twice are ranked (their 64-bit hashes, as in documents.sql).
WITH repeated AS (
    SELECT hash(page_id, detector_name, detector_version) AS h FROM _src_detections GROUP BY 1 HAVING count(*) > 1
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY page_id, detector_name, detector_version ORDER BY created_at, run_id) AS rn
    FROM _src_detections
    WHERE hash(page_id, detector_name, detector_version) IN (SELECT h FROM repeated)
)
SELECT * FROM _src_detections WHERE hash(page_id, detector_name, detector_version) NOT IN (SELECT h FROM repeated)
UNION ALL
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
