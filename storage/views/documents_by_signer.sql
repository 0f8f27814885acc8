-- Which documents did each person sign: audited claims decided genuine, catalogue matches (rank 1), and the
-- signatures enrolled as their references (a reference PDF's, or one the lake held: an unknown writer the archivist
-- named, a cheque's signature the fraud team confirmed; `sigpipe enroll` with a sig_id column), while in use.
-- Verdicts and matches carry the document's file name (the documents view's, copied when the row is written;
-- storage.upgrade fills it in for older files), so no join with documents: joining 1M documents, which that view
-- deduplicates, cost two thirds of this view's time. A row whose document the lake does not know has no name and is
-- left out, as the join left it out. An enrolled signature's file name is its reference's source's (the
-- enrolled_signatures view): the documents are not joined for it either. A signature catalogued by several verifier
-- versions is listed as the version that catalogued it last matched it (latest_matches).
WITH audited AS (
    SELECT claimed_signer AS signer_id, file_name, page, 'audit' AS source, score, run_id, doc_id
    FROM verdicts
    WHERE decision = 'genuine' AND file_name IS NOT NULL
),
catalogued AS (  -- as the verifier version that catalogued the signature last matched it
    SELECT signer_id, file_name, page, 'catalog' AS source, score, run_id, doc_id
    FROM latest_matches
    WHERE rank = 1 AND is_match AND file_name IS NOT NULL
),
named AS (
    SELECT signer_id, file_name, page, 'reference' AS source, NULL AS score, run_id, doc_id FROM enrolled_signatures
)
SELECT * FROM audited
UNION ALL
SELECT * FROM catalogued
UNION ALL
SELECT * FROM named
ORDER BY signer_id, file_name, page
