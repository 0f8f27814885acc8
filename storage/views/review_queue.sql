-- Claims waiting for a person: each claim's latest verdict when it is flagged (forgery, inconclusive, or a claimed
-- signature not found) and nobody has reviewed the claim yet; in the flagged view's order. Export it, fill in an
-- outcome column, and record it with `sigpipe review FILE`.
WITH latest AS (
    SELECT *
    FROM verdicts
    QUALIFY row_number() OVER (PARTITION BY verdict_id ORDER BY created_at DESC, run_id DESC) = 1
)
SELECT
    verdict_id,
    document,
    page,
    claimed_signer,
    decision,
    score,
    threshold,
    evidence_path,
    run_id,
    created_at
FROM latest
WHERE decision IN ('forgery', 'inconclusive', 'no_signature')
  AND NOT EXISTS (SELECT 1 FROM _src_reviews AS r WHERE r.verdict_id = latest.verdict_id)
ORDER BY CASE decision WHEN 'forgery' THEN 0 WHEN 'inconclusive' THEN 1 ELSE 2 END, score, document
