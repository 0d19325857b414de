-- Findings of the hardening audit a person accepted, with a reason, until a date: shown
-- as accepted (never hidden) until then, and as they are after it.
CREATE TABLE accepted_findings (
    deployment   TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
    check_name   TEXT NOT NULL,
    host         TEXT NOT NULL,   -- '' when the finding names no host
    subject      TEXT NOT NULL,   -- '' when it names no subject
    reason       TEXT NOT NULL,
    until        TEXT NOT NULL,   -- RFC 3339
    accepted_at  TEXT NOT NULL,
    accepted_by  TEXT NOT NULL,
    PRIMARY KEY (deployment, check_name, host, subject)
);
