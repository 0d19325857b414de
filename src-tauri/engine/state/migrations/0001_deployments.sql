-- Known deployments and the host keys their operators trusted.
-- No secret is ever stored here: credentials live in the OS keychain.
CREATE TABLE deployments (
    name          TEXT PRIMARY KEY NOT NULL,
    profile_path  TEXT NOT NULL,
    profile_toml  TEXT NOT NULL,
    summary_json  TEXT NOT NULL,
    added_at      TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE host_keys (
    deployment   TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    address      TEXT NOT NULL,
    port         INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    key_type     TEXT NOT NULL,
    trusted_at   TEXT NOT NULL,
    trusted_by   TEXT NOT NULL,
    PRIMARY KEY (deployment, host)
);
