-- Detected signature boxes whose run committed the document's detections.
SELECT s.*
FROM _src_signatures AS s
SEMI JOIN detections AS c
    ON s.doc_id = c.doc_id AND s.run_id = c.run_id
   AND s.detector_name = c.detector_name AND s.detector_version = c.detector_version
