-- Detected signature boxes whose run committed the document's detections.
WITH committed AS (
    SELECT DISTINCT doc_id, run_id, detector_name, detector_version FROM detections
)
SELECT s.*
FROM _src_signatures AS s
SEMI JOIN committed AS c
    ON s.doc_id = c.doc_id AND s.run_id = c.run_id
   AND s.detector_name = c.detector_name AND s.detector_version = c.detector_version
