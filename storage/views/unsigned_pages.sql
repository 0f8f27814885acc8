-- Pages on which the detector found no signature (page_signatures' rows with n_signatures = 0, without the
-- per-page best confidence, which is null on them anyway).
SELECT d.file_name, x.page, x.detector_name, x.detector_version, x.doc_id, x.page_id
FROM detections AS x
JOIN documents AS d USING (doc_id)
WHERE x.n_signatures = 0
