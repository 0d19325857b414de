-- Every hardening audit's score and verdicts (no evidence, no values), so the next audit
-- says what changed since (drift) and the score can be followed over time.
CREATE TABLE harden_audits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment  TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
    checked_at  TEXT NOT NULL,   -- RFC 3339
    score       INTEGER NOT NULL,
    verdicts    TEXT NOT NULL    -- JSON: [{"check", "host", "subject", "verdict"}]
);
CREATE INDEX harden_audits_by_deployment ON harden_audits (deployment, id);
