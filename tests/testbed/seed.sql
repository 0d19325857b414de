-- Seed data for the sandbox database. Run by tests/testbed/up as the role `app`, in one
-- transaction, after schema.sql, with these psql variables (see up for the sizes):
--   gen_users   generated members user000001.. (password "password-<n>")
--   gen_tokens  generated API tokens bgtok_gen_<n>, all active, on generated users
--   n_sessions  rows in sessions (a few for named users, the rest on generated users)
--   n_audit     rows in audit_logs in all, spread over the last 7 days
--
-- Named users, tokens and the audit trail's incidents are the same at every size; tests
-- rely on them (they are listed in testbed.json):
--   users   admin, ops-admin (admin); alice, bob, carol (locked for a year), mallory
--           password "<name>-sandbox-pass" (admin: admin-sandbox-pass)
--   tokens  bgtok_alice_1, bgtok_alice_2, bgtok_bob_1, bgtok_admin_1 (active),
--           bgtok_bob_revoked (inactive)
--   audit   a brute-force burst ~3 h ago: login.failure from 203.0.113.7 (mostly against
--           mallory) and 198.51.100.23 (a dictionary of names), then a login.success for
--           mallory from 203.0.113.7 ("success after failures"); admin.* actions by
--           admin and ops-admin; token.created for bgtok_alice_2.
-- Digests: password hex(sha256(salt || password)), token hex(sha256(token)); salts and
-- session keys are random, the distribution of the rest is seeded (setseed) and so the
-- same on every run.

\set ON_ERROR_STOP on
SET synchronous_commit = off;
SET work_mem = '64MB';
SET maintenance_work_mem = '256MB';
SELECT setseed(0.20261122) AS seeded \gset

-- Named users: ids 1..6 in this order.
WITH u AS MATERIALIZED (
    SELECT v.*, replace(gen_random_uuid()::text, '-', '') AS salt
    FROM (VALUES
        (1, 'admin',     'admin',  'admin-sandbox-pass',     NULL::interval,    interval '900 days'),
        (2, 'ops-admin', 'admin',  'ops-sandbox-pass',       NULL::interval,    interval '610 days'),
        (3, 'alice',     'member', 'alice-sandbox-pass',     NULL::interval,    interval '420 days'),
        (4, 'bob',       'member', 'bob-sandbox-pass',       NULL::interval,    interval '380 days'),
        (5, 'carol',     'member', 'carol-sandbox-pass',     interval '1 year', interval '300 days'),
        (6, 'mallory',   'member', 'mallory-sandbox-pass',   NULL::interval,    interval '45 days')
    ) AS v(ord, username, role, password, locked_for, age)
)
INSERT INTO users (username, email, role, password_salt, password_digest, locked_until, created_at)
SELECT username, username || '@homechat.example', role, salt,
       encode(sha256(convert_to(salt || password, 'UTF8')), 'hex'),
       now() + locked_for, now() - age
FROM u
ORDER BY ord;

-- Generated members.
WITH g AS MATERIALIZED (
    SELECT n, 'user' || lpad(n::text, 6, '0') AS username,
           replace(gen_random_uuid()::text, '-', '') AS salt,
           now() - interval '8 days' - random() * interval '700 days' AS created_at
    FROM generate_series(1, :gen_users) AS n
)
INSERT INTO users (username, email, role, password_salt, password_digest, created_at)
SELECT username, username || '@example.net', 'member', salt,
       encode(sha256(convert_to(salt || 'password-' || n, 'UTF8')), 'hex'), created_at
FROM g
ORDER BY n;

-- Named tokens.
INSERT INTO api_tokens (user_id, name, token_digest, active, created_at, last_used_at)
SELECT u.id, t.name, encode(sha256(convert_to(t.token, 'UTF8')), 'hex'), t.active,
       now() - t.age, now() - t.used
FROM (VALUES
    ('alice', 'bgtok_alice_1',     'laptop-cli',   true,  interval '30 days', interval '2 hours'),
    ('alice', 'bgtok_alice_2',     'ci-pipeline',  true,  interval '2 days',  interval '20 minutes'),
    ('bob',   'bgtok_bob_1',       'home-server',  true,  interval '75 days', interval '1 day'),
    ('admin', 'bgtok_admin_1',     'admin-script', true,  interval '60 days', interval '3 hours'),
    ('bob',   'bgtok_bob_revoked', 'old-laptop',   false, interval '200 days', interval '120 days')
) AS t(owner, token, name, active, age, used)
JOIN users u ON u.username = t.owner;

-- Generated tokens, on generated users only (a named user's tokens are exactly the above).
CREATE TEMPORARY TABLE gen_bounds ON COMMIT DROP AS
    SELECT min(id) AS lo, max(id) - min(id) + 1 AS span
    FROM users WHERE username ~ '^user[0-9]+$';

INSERT INTO api_tokens (user_id, name, token_digest, created_at, last_used_at)
SELECT x.user_id, x.name, x.digest, x.created_at,
       CASE WHEN x.r < 0.7 THEN x.created_at + (now() - x.created_at) * x.r / 0.7 END
FROM (
    SELECT b.lo + floor(random() * b.span)::bigint AS user_id,
           (ARRAY['cli', 'ci', 'mobile', 'integration', 'backup-script'])[1 + n % 5] AS name,
           encode(sha256(convert_to('bgtok_gen_' || n, 'UTF8')), 'hex') AS digest,
           now() - random() * interval '180 days' AS created_at,
           random() AS r
    FROM generate_series(1, :gen_tokens) AS n, gen_bounds b
) x
ORDER BY x.created_at;

-- Sessions: a few for named users, the rest for generated users; all valid (14 days).
INSERT INTO sessions (session_key, user_id, created_at, expires_at)
SELECT encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex'), u.id,
       now() - s.age, now() - s.age + interval '14 days'
FROM (VALUES ('alice', interval '3 hours'), ('alice', interval '2 days'), ('bob', interval '1 day'),
             ('admin', interval '5 hours'), ('ops-admin', interval '6 days'),
             ('mallory', interval '2 hours 45 minutes')) AS s(owner, age)
JOIN users u ON u.username = s.owner;

INSERT INTO sessions (session_key, user_id, created_at, expires_at)
SELECT encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex'), x.user_id,
       x.created_at, x.created_at + interval '14 days'
FROM (
    SELECT b.lo + floor(random() * b.span)::bigint AS user_id,
           now() - random() * interval '7 days' AS created_at
    FROM generate_series(1, greatest(:n_sessions - (SELECT count(*) FROM sessions), 0)), gen_bounds b
) x
ORDER BY x.created_at;

-- The audit trail: the incidents first (into a scratch table), then background activity
-- up to n_audit rows; inserted into audit_logs in time order, as an app would have.
CREATE TEMPORARY TABLE audit_scratch (
    user_id    bigint,
    action     text NOT NULL,
    ip_address inet,
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
) ON COMMIT DROP;

-- The brute-force burst, 3 h ago, 12 minutes long.
INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT u.id, 'login.failure', '203.0.113.7',
       jsonb_build_object('username', t.username, 'reason', 'invalid_password',
                          'user_agent', 'python-requests/2.31', 'node', 'web' || (1 + n % 3)),
       now() - interval '3 hours' + n * interval '12 seconds'
FROM generate_series(1, 60) AS n
CROSS JOIN LATERAL (SELECT CASE WHEN n % 6 = 0 THEN 'admin' ELSE 'mallory' END AS username) t
LEFT JOIN users u ON u.username = t.username;

INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT u.id, 'login.failure', '198.51.100.23',
       jsonb_build_object('username', t.username, 'reason', CASE WHEN u.id IS NULL THEN 'unknown_user' ELSE 'invalid_password' END,
                          'user_agent', 'Mozilla/5.0 (compatible; Hydra)', 'node', 'web' || (1 + n % 3)),
       now() - interval '3 hours' + interval '5 seconds' + n * interval '16 seconds'
FROM generate_series(1, 45) AS n
CROSS JOIN LATERAL (SELECT (ARRAY['admin', 'root', 'administrator', 'alice', 'bob', 'mallory', 'test', 'ops-admin', 'support'])[1 + n % 9] AS username) t
LEFT JOIN users u ON u.username = t.username;

-- ... and the success that follows it.
INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT id, 'login.success', '203.0.113.7',
       jsonb_build_object('username', username, 'user_agent', 'python-requests/2.31', 'node', 'web2'),
       now() - interval '3 hours' + interval '12 minutes 30 seconds'
FROM users WHERE username = 'mallory';

-- Named users' ordinary days (a few typos: failures from their own address).
INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT u.id, a.action, a.ip::inet,
       jsonb_build_object('username', u.username, 'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0', 'node', 'web1')
         || CASE WHEN a.action = 'login.failure' THEN '{"reason": "invalid_password"}'::jsonb ELSE '{}'::jsonb END,
       now() - a.age
FROM (VALUES
    ('alice',     'login.failure', '192.0.2.10',   interval '6 days 2 hours'),
    ('alice',     'login.success', '192.0.2.10',   interval '6 days 1 hour 59 minutes'),
    ('alice',     'login.success', '192.0.2.10',   interval '2 days'),
    ('alice',     'token.created', '192.0.2.10',   interval '2 days' - interval '5 minutes'),
    ('alice',     'login.success', '192.0.2.11',   interval '3 hours'),
    ('bob',       'login.success', '192.0.2.20',   interval '5 days'),
    ('bob',       'login.failure', '192.0.2.20',   interval '1 day 1 minute'),
    ('bob',       'login.success', '192.0.2.20',   interval '1 day'),
    ('carol',     'login.success', '192.0.2.30',   interval '4 days'),
    ('admin',     'login.success', '192.0.2.1',    interval '5 hours'),
    ('ops-admin', 'login.success', '192.0.2.2',    interval '6 days'),
    ('mallory',   'login.success', '192.0.2.66',   interval '6 days 12 hours')
) AS a(username, action, ip, age)
JOIN users u ON u.username = a.username;

UPDATE audit_scratch SET metadata = metadata || '{"token_name": "ci-pipeline"}'
WHERE action = 'token.created';

-- Administrators' actions.
INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT u.id, a.action, a.ip::inet, a.meta::jsonb || jsonb_build_object('username', u.username, 'node', 'web1'),
       now() - a.age
FROM (VALUES
    ('ops-admin', 'admin.role_changed',     '192.0.2.2', '{"target": "ops-admin", "from": "member", "to": "admin"}', interval '6 days'),
    ('admin',     'admin.settings_changed', '192.0.2.1', '{"setting": "registration", "value": "invite-only"}',     interval '5 days 3 hours'),
    ('admin',     'admin.user_created',     '192.0.2.1', '{"target": "user000001"}',                                 interval '4 days 8 hours'),
    ('admin',     'admin.user_locked',      '192.0.2.1', '{"target": "carol", "duration": "1 year"}',              interval '2 days 6 hours'),
    ('ops-admin', 'admin.export',           '192.0.2.2', '{"what": "users.csv"}',                                    interval '1 day 4 hours'),
    ('ops-admin', 'admin.token_revoked',    '192.0.2.2', '{"target": "bob", "token_name": "old-laptop"}',          interval '20 hours'),
    ('admin',     'admin.settings_changed', '192.0.2.1', '{"setting": "session_ttl", "value": "14d"}',             interval '5 hours')
) AS a(username, action, ip, meta, age)
JOIN users u ON u.username = a.username;

-- Background: generated users, each from an address of its own, over the last 7 days;
-- 2 % failures (typos), so that no address but the two above has many.
INSERT INTO audit_scratch (user_id, action, ip_address, metadata, created_at)
SELECT u.id,
       CASE WHEN x.r < 0.86 THEN 'login.success'
            WHEN x.r < 0.94 THEN 'logout'
            WHEN x.r < 0.96 THEN 'login.failure'
            WHEN x.r < 0.99 THEN 'token.created'
            ELSE 'password.changed' END,
       ('10.' || (u.id / 65536) % 256 || '.' || (u.id / 256) % 256 || '.' || u.id % 256)::inet,
       jsonb_build_object('username', u.username, 'node', 'web' || (1 + x.n % 3),
                          'user_agent', (ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0',
                                               'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15',
                                               'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)',
                                               'HomeChat-Android/3.2.1'])[1 + x.n % 4])
         || CASE WHEN x.r >= 0.94 AND x.r < 0.96 THEN '{"reason": "invalid_password"}'::jsonb ELSE '{}'::jsonb END,
       x.created_at
FROM (
    SELECT n, random() AS r, b.lo + floor(random() * b.span)::bigint AS user_id,
           now() - random() * interval '7 days' AS created_at
    FROM generate_series(1, greatest(:n_audit - (SELECT count(*) FROM audit_scratch), 0)) AS n, gen_bounds b
) x
JOIN users u ON u.id = x.user_id;

INSERT INTO audit_logs (user_id, action, ip_address, metadata, created_at)
SELECT user_id, action, ip_address, metadata, created_at
FROM audit_scratch
ORDER BY created_at;
