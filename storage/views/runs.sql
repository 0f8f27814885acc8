-- One row per flow run that wrote anything.
SELECT * FROM _src_runs
