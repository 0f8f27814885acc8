-- One row per signer the lake knows (enrolled, withdrawn, or named by an audited claim): the references in use and
-- those withdrawn (and not in use again under another verifier version), and the verdicts the audits wrote on their
-- claims, by decision. Each verdict counts: a claim decided again (unknown_signer before the signer was enrolled,
-- then genuine) counts once per decision, as in audit_summary; review_queue shows a flagged claim's latest.
-- A signer with verdicts and no references in use is one the audit calls unknown_signer.
-- A reference is in use (under some verifier version, as the "references" view has it) when its last enrolment,
-- under any version, came after its last withdrawal: one aggregate over the raw rows, not the "references" view's
-- window per version (1M references and 10M verdicts: 0.83 s instead of 1.5 s; notes/withdraw-experiment). Counting
-- each claim by its latest verdict instead took 5.2 s at 10M verdicts (bench/sql.py).
WITH refs AS (
    SELECT signer_id, ref_id, min(enrolled_at) AS first_enrolled_at, max(enrolled_at) AS last_enrolled_at
    FROM _src_references
    GROUP BY signer_id, ref_id
),
last_withdrawal AS (
    SELECT signer_id, ref_id, max(withdrawn_at) AS last_withdrawn_at FROM _src_withdrawals GROUP BY signer_id, ref_id
),
per_signer AS (
    SELECT
        r.signer_id,
        count(*) FILTER (WHERE w.last_withdrawn_at IS NULL OR w.last_withdrawn_at < r.last_enrolled_at)
            AS references_in_use,
        count(*) FILTER (WHERE w.last_withdrawn_at >= r.last_enrolled_at) AS references_withdrawn,
        min(r.first_enrolled_at) FILTER (WHERE w.last_withdrawn_at IS NULL OR w.last_withdrawn_at < r.last_enrolled_at)
            AS first_enrolled_at,
        max(w.last_withdrawn_at) FILTER (WHERE w.last_withdrawn_at >= r.last_enrolled_at) AS last_withdrawn_at
    FROM refs AS r LEFT JOIN last_withdrawal AS w ON w.signer_id = r.signer_id AND w.ref_id = r.ref_id
    GROUP BY r.signer_id
),
claimed AS (
    SELECT
        claimed_signer AS signer_id,
        count(*) AS verdicts,
        count(*) FILTER (WHERE decision = 'genuine') AS genuine,
        count(*) FILTER (WHERE decision = 'forgery') AS forgery,
        count(*) FILTER (WHERE decision = 'inconclusive') AS inconclusive,
        count(*) FILTER (WHERE decision = 'no_signature') AS no_signature,
        count(*) FILTER (WHERE decision = 'unknown_signer') AS unknown_signer,
        max(created_at) AS last_verdict_at
    FROM verdicts
    GROUP BY claimed_signer
)
SELECT
    signer_id,
    coalesce(references_in_use, 0) AS references_in_use,
    coalesce(references_withdrawn, 0) AS references_withdrawn,
    first_enrolled_at,
    last_withdrawn_at,
    coalesce(verdicts, 0) AS verdicts,
    coalesce(genuine, 0) AS genuine,
    coalesce(forgery, 0) AS forgery,
    coalesce(inconclusive, 0) AS inconclusive,
    coalesce(no_signature, 0) AS no_signature,
    coalesce(unknown_signer, 0) AS unknown_signer,
    last_verdict_at
FROM per_signer
FULL JOIN claimed USING (signer_id)
ORDER BY signer_id
