-- Signatures catalogued by more than one verifier version (an archive catalogued again after an upgrade), with the
-- version that catalogued each last: latest_matches keeps only that version's rows of such a signature. Every
-- catalogue writes one row of rank 1 (or of no rank: no one was enrolled) per signature, so those rows say which
-- catalogues looked at it. While the lake's runs have used one verifier (the models view, where every flow registers
-- its models before writing a row), this is empty without grouping matches (the views reading latest_matches cost
-- 11-22% more than before 0.8.2 then, not 2-3x: notes/recatalogue).
SELECT
    sig_id,
    arg_max(verifier_name, created_at) AS verifier_name,
    arg_max(verifier_version, created_at) AS verifier_version,
    max(created_at) AS catalogued_at
FROM matches
WHERE (rank = 1 OR rank IS NULL) AND (SELECT count(*) FROM models WHERE kind = 'verifier') > 1
GROUP BY sig_id
HAVING min(verifier_version) <> max(verifier_version) OR min(verifier_name) <> max(verifier_name)
