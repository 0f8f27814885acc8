-- Enrolled reference signatures: re-enrolling the same image replaces it (the latest row wins).
-- "references" is an SQL keyword: quote it in queries, SELECT * FROM "references".
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY signer_id, ref_id, model_name, model_version ORDER BY enrolled_at DESC, run_id DESC) AS rn
    FROM _src_references
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
