-- Verdicts a person must look at: forgeries first (lowest score first), then inconclusives, then claims whose
-- signature was not found on the document (it cannot be verified: a cheque without its signature is a case for
-- the fraud team too). Forgeries and inconclusives carry their evidence sheet; verdict_id is what a review file
-- (`sigpipe review`) names.
SELECT
    document,
    page,
    claimed_signer,
    decision,
    score,
    threshold,
    threshold_kind,
    evidence_path,
    run_id,
    created_at,
    doc_id,
    sig_id,
    verdict_id
FROM verdicts
WHERE decision IN ('forgery', 'inconclusive', 'no_signature')
ORDER BY CASE decision WHEN 'forgery' THEN 0 WHEN 'inconclusive' THEN 1 ELSE 2 END, score, document
