-- Inputs that could not be processed, with the stage and the reason.
SELECT * FROM _src_failures
