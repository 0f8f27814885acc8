-- One embedding per signature and verifier version (the first written wins; they are deterministic).
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY sig_id, model_name, model_version ORDER BY created_at, run_id) AS rn
    FROM _src_embeddings
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
