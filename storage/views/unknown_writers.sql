-- Signatures that matched no enrolled signer, grouped into clusters of one unknown writer each.
WITH unmatched AS (
    SELECT DISTINCT cluster_id, sig_id, doc_id, page FROM matches WHERE cluster_id IS NOT NULL
)
SELECT
    u.cluster_id,
    count(DISTINCT u.sig_id) AS signatures,
    count(DISTINCT u.doc_id) AS documents,
    list(DISTINCT d.file_name ORDER BY d.file_name) AS files
FROM unmatched AS u
JOIN documents AS d USING (doc_id)
GROUP BY u.cluster_id
ORDER BY signatures DESC, u.cluster_id
