-- References taken out of use: each enrolled reference (latest row per verifier version, as in "references") that a
-- withdrawal made at or after its enrolment hides, with the last such withdrawal's reason, who asked and when.
-- Verdicts made with it keep its ref_id (best_ref_id); enrolling the same image again brings it back.
WITH latest AS (
    SELECT * FROM _src_references
    QUALIFY row_number() OVER (
        PARTITION BY signer_id, ref_id, model_name, model_version ORDER BY enrolled_at DESC, run_id DESC) = 1
),
last_withdrawal AS (
    SELECT * FROM _src_withdrawals
    QUALIFY row_number() OVER (PARTITION BY signer_id, ref_id ORDER BY withdrawn_at DESC, run_id DESC) = 1
)
SELECT r.signer_id, r.ref_id, r.source, r.source_kind, r.model_name, r.model_version, r.enrolled_at,
       w.withdrawn_at, w.reason, w.withdrawn_by, w.run_id AS withdrawal_run_id
FROM latest r JOIN last_withdrawal w USING (signer_id, ref_id)
WHERE w.withdrawn_at >= r.enrolled_at
ORDER BY r.signer_id, r.ref_id, r.model_name, r.model_version
