-- Per document: pages, size and when it was ingested (the ingest flow's printed summary).
WITH page_counts AS (
    SELECT doc_id, count(*) AS pages_stored, max(width) AS max_width, max(height) AS max_height
    FROM pages
    GROUP BY doc_id
)
SELECT
    d.file_name,
    d.n_pages,
    coalesce(pc.pages_stored, 0) AS pages_stored,
    d.dpi,
    pc.max_width,
    pc.max_height,
    round(d.size_bytes / 1024.0, 1) AS size_kib,
    d.ingested_at,
    d.run_id,
    d.doc_id
FROM documents AS d
LEFT JOIN page_counts AS pc USING (doc_id)
ORDER BY d.file_name
