-- One row per ingested PDF. The documents row is written last for a document, so it is the commit
-- marker: pages and other per-document rows count only when their run committed the document here.
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY doc_id ORDER BY ingested_at, run_id) AS rn
    FROM _src_documents
)
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
