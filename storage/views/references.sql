-- Enrolled reference signatures in use: re-enrolling the same image replaces it (the latest row wins), and a
-- reference withdrawn (`sigpipe withdraw`, `sigpipe enroll --replace`) after it was enrolled is left out: the audit
-- and the catalogue no longer compare with it (withdrawn_references lists those, with the reason).
-- "references" is an SQL keyword: quote it in queries, SELECT * FROM "references".
-- A left join on each reference's last withdrawal, not NOT EXISTS: DuckDB then still pushes the audit's filter on
-- signer_id down to the files (1M references: 0.42 s for 64 signers, as before withdrawals; 1.8 s with NOT EXISTS;
-- notes/withdraw-experiment/view_cost.py).
WITH ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY signer_id, ref_id, model_name, model_version ORDER BY enrolled_at DESC, run_id DESC) AS rn
    FROM _src_references
),
last_withdrawal AS (
    SELECT signer_id, ref_id, max(withdrawn_at) AS last_withdrawn_at FROM _src_withdrawals GROUP BY signer_id, ref_id
)
SELECT r.* EXCLUDE (rn)
FROM ranked r LEFT JOIN last_withdrawal w ON w.signer_id = r.signer_id AND w.ref_id = r.ref_id
WHERE rn = 1 AND (w.last_withdrawn_at IS NULL OR w.last_withdrawn_at < r.enrolled_at)
