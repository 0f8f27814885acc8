-- The catalogue's matches as the verifier version that catalogued each signature last left them: every row of a
-- signature no other version catalogued, and of one catalogued again after an upgrade (recatalogued) only that
-- version's rows. unknown_writers, documents_by_signer and the groups a catalogue joins read this, so a hand is
-- counted once, not once per version; matches keeps every row.
SELECT m.*
FROM matches AS m
LEFT JOIN recatalogued AS r ON r.sig_id = m.sig_id
WHERE r.sig_id IS NULL OR (r.verifier_name = m.verifier_name AND r.verifier_version = m.verifier_version)
