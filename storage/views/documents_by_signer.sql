-- Which documents did each person sign: audited claims decided genuine, and catalogue matches (rank 1).
WITH audited AS (
    SELECT claimed_signer AS signer_id, doc_id, page, 'audit' AS source, score, run_id
    FROM verdicts
    WHERE decision = 'genuine'
),
catalogued AS (
    SELECT signer_id, doc_id, page, 'catalog' AS source, score, run_id
    FROM matches
    WHERE rank = 1 AND is_match
)
SELECT x.signer_id, d.file_name, x.page, x.source, x.score, x.run_id, x.doc_id
FROM (SELECT * FROM audited UNION ALL SELECT * FROM catalogued) AS x
JOIN documents AS d USING (doc_id)
ORDER BY x.signer_id, d.file_name, x.page
