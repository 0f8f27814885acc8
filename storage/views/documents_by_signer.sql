-- Which documents did each person sign: audited claims decided genuine, and catalogue matches (rank 1).
-- Verdicts and matches carry the document's file name (the documents view's, copied when the row is written;
-- storage.upgrade fills it in for older files), so no join with documents: joining 1M documents, which that view
-- deduplicates, cost two thirds of this view's time. A row whose document the lake does not know has no name and is
-- left out, as the join left it out.
WITH audited AS (
    SELECT claimed_signer AS signer_id, file_name, page, 'audit' AS source, score, run_id, doc_id
    FROM verdicts
    WHERE decision = 'genuine' AND file_name IS NOT NULL
),
catalogued AS (
    SELECT signer_id, file_name, page, 'catalog' AS source, score, run_id, doc_id
    FROM matches
    WHERE rank = 1 AND is_match AND file_name IS NOT NULL
)
SELECT * FROM audited
UNION ALL
SELECT * FROM catalogued
ORDER BY signer_id, file_name, page
