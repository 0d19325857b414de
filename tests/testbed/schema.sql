-- The sandbox application's schema (a HomeChat-like Rails app, seed 001).
-- Applied by tests/testbed/up as the role `app`, which therefore owns every table.
--
-- Password digest: hex(sha256(password_salt || password)).
-- Token digest:    hex(sha256(token)).

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE,
    email           text,
    role            text NOT NULL CHECK (role IN ('admin', 'member')),
    password_salt   text NOT NULL,
    password_digest text NOT NULL,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL,
    token_digest text NOT NULL UNIQUE,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);
CREATE INDEX api_tokens_created_at_idx ON api_tokens (created_at);

CREATE TABLE sessions (
    id          bigserial PRIMARY KEY,
    session_key text NOT NULL UNIQUE,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE audit_logs (
    id         bigserial PRIMARY KEY,
    user_id    bigint REFERENCES users ON DELETE SET NULL,
    action     text NOT NULL,
    ip_address inet,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);
CREATE INDEX audit_logs_action_created_at_idx ON audit_logs (action, created_at);
