-- References taken out of use (`sigpipe withdraw`, `sigpipe enroll --replace`): one row per signer, reference and
-- withdrawal, the history of who asked and why. A reference withdrawn twice has two rows; the "references" view
-- leaves it out once a withdrawal is at or after its enrolment, and withdrawn_references shows the last one.
SELECT * FROM _src_withdrawals
