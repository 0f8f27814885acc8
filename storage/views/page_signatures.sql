-- Every page a detector looked at, with how many signatures it found (0 = unsigned) and the best confidence
-- (null when none), which the detector stored on the page's detections row: no aggregate over the signatures.
-- page_turn: the degrees (counter-clockwise) the page was turned to stand upright first (0 = as scanned).
SELECT
    d.file_name,
    x.page,
    x.n_signatures,
    x.max_confidence,
    x.detector_name,
    x.detector_version,
    x.doc_id,
    x.page_id,
    x.page_turn
FROM detections AS x
JOIN documents AS d USING (doc_id)
