-- Catalogue results: top-k enrolled signers per signature, and unknown-writer clusters.
SELECT * FROM _src_matches
