-- Pages of committed documents only: rows left by a run that crashed mid-document are hidden.
SELECT p.*
FROM _src_pages AS p
SEMI JOIN documents AS d ON p.doc_id = d.doc_id AND p.run_id = d.run_id
