-- Per audit run: documents, signatures checked and how each claim was decided.
SELECT
    run_id,
    min(created_at) AS audited_at,
    count(DISTINCT doc_id) AS documents,
    count(DISTINCT sig_id) AS signatures,
    count(*) AS claims,
    count(*) FILTER (WHERE decision = 'genuine') AS genuine,
    count(*) FILTER (WHERE decision = 'forgery') AS forgery,
    count(*) FILTER (WHERE decision = 'inconclusive') AS inconclusive,
    count(*) FILTER (WHERE decision = 'no_signature') AS no_signature,
    count(*) FILTER (WHERE decision = 'unknown_signer') AS unknown_signer
FROM verdicts
GROUP BY run_id
ORDER BY audited_at
