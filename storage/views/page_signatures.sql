-- Every page a detector looked at, with how many signatures it found (0 = unsigned) and the best confidence
-- (null when none), which the detector stored on the page's detections row: no aggregate over the signatures.
SELECT
    d.file_name,
    x.page,
    x.n_signatures,
    x.max_confidence,
    x.detector_name,
    x.detector_version,
    x.doc_id,
    x.page_id
FROM detections AS x
JOIN documents AS d USING (doc_id)
