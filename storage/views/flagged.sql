-- Verdicts a person must look at: forgeries first (lowest score first), then inconclusives, with evidence.
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
    sig_id
FROM verdicts
WHERE decision IN ('forgery', 'inconclusive')
ORDER BY decision = 'inconclusive', score
