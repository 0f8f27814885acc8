-- Signatures that matched no enrolled signer, grouped into clusters of one unknown writer each. A signature since
-- enrolled as someone's reference (the archivist named the writer: `sigpipe enroll` with a sig_id column) is no
-- longer unknown and is left out, while that reference is in use; documents_by_signer lists it under its signer.
-- A signature catalogued again by another verifier version (an archive re-catalogued after an upgrade) counts in the
-- group of the version that catalogued it last, or in none if that version matched it to a signer (latest_matches):
-- each hand is listed once, not once per version. verifier_name and verifier_version say whose groups they are.
WITH unmatched AS (
    SELECT DISTINCT cluster_id, sig_id, doc_id, page, verifier_name, verifier_version FROM latest_matches
    WHERE cluster_id IS NOT NULL AND sig_id NOT IN (SELECT sig_id FROM enrolled_signatures)
)
SELECT
    u.cluster_id,
    count(DISTINCT u.sig_id) AS signatures,
    count(DISTINCT u.doc_id) AS documents,
    list(DISTINCT d.file_name ORDER BY d.file_name) AS files,
    any_value(u.verifier_name) AS verifier_name,
    any_value(u.verifier_version) AS verifier_version
FROM unmatched AS u
JOIN documents AS d USING (doc_id)
GROUP BY u.cluster_id
ORDER BY signatures DESC, u.cluster_id
