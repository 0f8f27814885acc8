-- How each verifier's decisions fared with the people who looked at them: per verifier version and decision, the
-- reviewed claims by what the reviewer found (a claim's latest review scores every verdict of that claim, from any
-- run or model). agreed: genuine found genuine, forgery found forgery, no_signature found not_signed; an
-- inconclusive never agrees. false_alarms: forgeries the reviewer found genuine.
WITH latest AS (
    SELECT verdict_id, outcome
    FROM reviews
    WHERE NOT superseded  -- the reviews view decides which finding is a claim's latest
)
SELECT
    v.verifier_name,
    v.verifier_version,
    v.decision,
    count(*) AS reviewed,
    count(*) FILTER (WHERE l.outcome = 'genuine') AS found_genuine,
    count(*) FILTER (WHERE l.outcome = 'forgery') AS found_forgery,
    count(*) FILTER (WHERE l.outcome = 'not_signed') AS found_not_signed,
    count(*) FILTER (WHERE l.outcome = 'unclear') AS found_unclear,
    count(*) FILTER (WHERE (v.decision = 'genuine' AND l.outcome = 'genuine')
                        OR (v.decision = 'forgery' AND l.outcome = 'forgery')
                        OR (v.decision = 'no_signature' AND l.outcome = 'not_signed')) AS agreed,
    count(*) FILTER (WHERE v.decision = 'forgery' AND l.outcome = 'genuine') AS false_alarms
FROM verdicts AS v
JOIN latest AS l USING (verdict_id)
GROUP BY v.verifier_name, v.verifier_version, v.decision
ORDER BY v.verifier_name, v.verifier_version,
    CASE v.decision WHEN 'forgery' THEN 0 WHEN 'inconclusive' THEN 1 WHEN 'no_signature' THEN 2
                    WHEN 'genuine' THEN 3 ELSE 4 END
