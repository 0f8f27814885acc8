-- Every page a detector looked at, with how many signatures it found (0 = unsigned) and the best confidence.
WITH best AS (
    SELECT doc_id, page, detector_name, detector_version, max(confidence) AS max_confidence
    FROM signatures
    GROUP BY ALL
)
SELECT
    d.file_name,
    x.page,
    x.n_signatures,
    b.max_confidence,
    x.detector_name,
    x.detector_version,
    x.doc_id,
    x.page_id
FROM detections AS x
JOIN documents AS d USING (doc_id)
LEFT JOIN best AS b
    ON b.doc_id = x.doc_id AND b.page = x.page
   AND b.detector_name = x.detector_name AND b.detector_version = x.detector_version
