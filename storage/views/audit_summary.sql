-- Per audit run: documents, signatures checked (a box not in signatures that a claim was scored on counts too: it
-- has no sig_id; the second look's, or a signature found whole once the stamps were painted) and how each claim was
-- decided. A finished run's counts were stored in audit_counts when it finished; runs without them (killed midway)
-- are counted here, the same way.
WITH counted AS (
    SELECT
        run_id, audited_at, documents, signatures, claims, genuine, forgery, inconclusive, no_signature,
        unknown_signer
    FROM _src_audit_counts
),
-- a narrow scan of run_id alone: when every run is counted this is empty and the verdicts are not read again
uncounted_runs AS (
    SELECT DISTINCT v.run_id FROM verdicts AS v ANTI JOIN counted AS c ON v.run_id = c.run_id
),
uncounted AS (
    SELECT
        v.run_id,
        min(v.created_at) AS audited_at,
        count(DISTINCT v.doc_id) AS documents,
        count(DISTINCT v.sig_id) + count(*) FILTER (WHERE v.sig_id IS NULL AND v.score IS NOT NULL) AS signatures,
        count(*) AS claims,
        count(*) FILTER (WHERE v.decision = 'genuine') AS genuine,
        count(*) FILTER (WHERE v.decision = 'forgery') AS forgery,
        count(*) FILTER (WHERE v.decision = 'inconclusive') AS inconclusive,
        count(*) FILTER (WHERE v.decision = 'no_signature') AS no_signature,
        count(*) FILTER (WHERE v.decision = 'unknown_signer') AS unknown_signer
    FROM verdicts AS v
    SEMI JOIN uncounted_runs AS u ON v.run_id = u.run_id
    GROUP BY v.run_id
)
SELECT * FROM counted
UNION ALL
SELECT * FROM uncounted
ORDER BY audited_at, run_id
