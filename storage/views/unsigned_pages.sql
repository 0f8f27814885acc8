-- Pages on which the detector found no signature.
SELECT file_name, page, detector_name, detector_version, doc_id, page_id
FROM page_signatures
WHERE n_signatures = 0
