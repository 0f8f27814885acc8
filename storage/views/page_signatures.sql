-- Every page a detector looked at, with how many signatures it found (0 = unsigned) and the best confidence
-- (null when none), which the detector stored on the page's detections row: no aggregate over the signatures.
-- page_turn: the degrees (counter-clockwise) the page was turned to stand upright first (0 = as scanned);
-- page_turn_sure: false when the page orienter left the page as it came without being sure it is upright (the audit
-- decides none of its signatures: inconclusive), null when no orienter looked.
SELECT
    d.file_name,
    x.page,
    x.n_signatures,
    x.max_confidence,
    x.detector_name,
    x.detector_version,
    x.doc_id,
    x.page_id,
    x.page_turn,
    x.page_turn_sure
FROM detections AS x
JOIN documents AS d USING (doc_id)
