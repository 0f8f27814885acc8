-- One row per ingested PDF. The documents row is written last for a document, so it is the commit
-- marker: pages and other per-document rows count only when their run committed the document here.
-- A doc_id committed by two runs (a race) keeps its first row. Only doc_ids seen twice go through the ranking:
-- `repeated` holds their 64-bit hashes (a collision merely ranks a few more rows), every other row streams
-- through, so no query sorts or hashes a million 64-hex ids to drop duplicates that are almost never there.
WITH repeated AS (
    SELECT hash(doc_id) AS h FROM _src_documents GROUP BY 1 HAVING count(*) > 1
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY doc_id ORDER BY ingested_at, run_id) AS rn
    FROM _src_documents
    WHERE hash(doc_id) IN (SELECT h FROM repeated)
)
SELECT * FROM _src_documents WHERE hash(doc_id) NOT IN (SELECT h FROM repeated)
UNION ALL
SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1
