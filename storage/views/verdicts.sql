-- Audit verdicts: written once per document and run, as the audit flow's last write for that document.
SELECT * FROM _src_verdicts
