-- Signatures the lake holds that are a signer's references in use: a reference PDF's signature cut at enrolment, or
-- one enrolled by its sig_id (`sigpipe enroll` with a sig_id column: an unknown writer the archivist named, a cheque's
-- signature the fraud team confirmed). One row per signer and signature, whichever verifier versions embedded it,
-- with the run that first enrolled it; the sig_id (<doc_id>:<page>:<box>) gives the document and page, and the
-- reference's source (the document's path, the latest if enrolled again from elsewhere) its file name, so no view
-- joins the documents to name them (1M such references beside 1M documents: a join cost documents_by_signer
-- 1.1-1.2 s; notes/named-writer-experiment).
-- In use as in the signers view: the last enrolment, under any version, came after the last withdrawal. One
-- aggregate over the raw rows, not the "references" view's window over every reference; references enrolled from
-- image files have no sig_id and are dropped at the scan.
WITH enrolled AS (
    SELECT signer_id, ref_id, any_value(sig_id) AS sig_id, arg_max(source, enrolled_at) AS source,
           min(enrolled_at) AS enrolled_at,
           arg_min(run_id, enrolled_at) AS run_id, max(enrolled_at) AS last_enrolled_at
    FROM _src_references
    WHERE sig_id IS NOT NULL AND sig_id NOT LIKE 'ref:%'
    GROUP BY signer_id, ref_id
),
last_withdrawal AS (
    SELECT signer_id, ref_id, max(withdrawn_at) AS last_withdrawn_at FROM _src_withdrawals GROUP BY signer_id, ref_id
)
SELECT e.signer_id, e.sig_id, split_part(e.sig_id, ':', 1) AS doc_id,
       TRY_CAST(split_part(e.sig_id, ':', 2) AS INTEGER) AS page, regexp_extract(e.source, '[^/]+$') AS file_name,
       e.source, e.enrolled_at, e.run_id
FROM enrolled AS e LEFT JOIN last_withdrawal AS w ON w.signer_id = e.signer_id AND w.ref_id = e.ref_id
WHERE w.last_withdrawn_at IS NULL OR w.last_withdrawn_at < e.last_enrolled_at
