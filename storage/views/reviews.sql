-- Every finding recorded by `sigpipe review`, the history of who decided what: a later review of the same claim
-- (verdict_id) supersedes the earlier ones, which stay here with superseded = true.
SELECT
    *,
    row_number() OVER (PARTITION BY verdict_id ORDER BY reviewed_at DESC, created_at DESC, review_id) > 1
        AS superseded
FROM _src_reviews
