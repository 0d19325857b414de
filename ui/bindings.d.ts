// Generated from the Rust types by src-tauri/desktop/bindings.rs (ts-rs): do not edit.
// `UPDATE_BINDINGS=1 cargo test bindings` rewrites it after a change to a type.

/**
 * A person's acceptance of one finding: which (check, host, subject), why, until when.
 */
export type Acceptance = { check: string, host: string | null, subject: string | null, reason: string, 
/**
 * RFC 3339; after it the finding counts again.
 */
until: string, at: string, by: string, };

/**
 * Streamed to the CLI and the window while an action runs.
 */
export type ActionEvent = { "event": "planned", plan: Plan, } | { "event": "waiting", holder: string, } | { "event": "step", step: number, description: string, status: StepStatus, detail: string, } | { "event": "verified", ok: boolean, detail: string, 
/**
 * Whom verify asked.
 */
by: Vantage | null, } | { "event": "finished", outcome: string, };

/**
 * What to do. Serializable, so the window sends the same value the CLI builds:
 * `{"action": "<name>", ...the request's fields}`.
 */
export type ActionSpec = { "action": "revoke-tokens" } & RevokeTokens | { "action": "lock-accounts" } & LockAccounts | { "action": "unlock-accounts" } & UnlockAccounts | { "action": "expire-sessions" } & ExpireSessions | { "action": "isolate" } & Isolate | { "action": "restore" } & Restore | { "action": "rotate-secrets" } & RotateSecrets | { "action": "rotate-undo" } & RotateUndo | { "action": "rotate-ssh-key" } & RotateSshKey | { "action": "rotate-ssh-key-undo" } & RotateSshKeyUndo | { "action": "rotate-docker-secret" } & RotateDockerSecret | { "action": "rotate-docker-secret-undo" } & RotateDockerSecretUndo | { "action": "undo" } & Undo;

export type AuditReview = { deployment: string, since: string, failed_by_ip: Array<FailedByIp>, success_after_failures: Array<SuccessAfterFailures>, admin_actions: Array<Event>, new_tokens: Array<Event>, timeline: Array<Bucket>, };

/**
 * One backup file.
 */
export type BackupFile = { 
/**
 * The file's name; an S3 object's key; a pgBackRest set's label.
 */
name: string, 
/**
 * Absolute, on `host`; `s3://bucket/key` for an S3 object.
 */
path: string, 
/**
 * The host the backup is restored from.
 */
host: string, store: BackupStore, size: number, 
/**
 * When it was taken (RFC 3339).
 */
taken_at: string, 
/**
 * `name` (a timestamp in the file name) or `mtime`.
 */
taken_from: string, age_secs: number, 
/**
 * The format of the backup itself (once decrypted, when it is encrypted).
 */
format: BackupFormat, encryption: Encryption | null, 
/**
 * The PostgreSQL major version of a pgBackRest set (its binaries start the copy).
 */
pg_version: string | null, };

/**
 * How a backup file is restored.
 */
export type BackupFormat = "custom" | "tar" | "directory" | "pg-back-rest" | "plain" | "plain-gzip" | "unknown";

/**
 * Where a backup is kept.
 */
export type BackupStore = "folder" | "s3" | "pg_back_rest";

export type Bucket = { hour: string, failures: number, successes: number, };

/**
 * A finding whose verdict changed since the previous audit (`from` or `to` is `None`
 * when the finding was not there).
 */
export type Change = { from: Verdict | null, to: Verdict | null, check: string, host: string | null, subject: string | null, };

/**
 * The outcome of one check.
 */
export type Check = { ok: boolean, latency_ms: number | null, detail: string, error: ErrorReport | null, };

/**
 * How one check came out.
 */
export type CheckStatus = "pass" | "warn" | "fail";

/**
 * A container as the console lists it.
 */
export type ContainerInfo = { host: string, name: string, id: string, image: string, state: string, status: string, 
/**
 * `healthy`, `unhealthy`, `starting`, or `none` when it has no health check.
 */
health: string, compose_project: string | null, compose_service: string | null, 
/**
 * The Swarm service this container is a task of (`com.docker.swarm.service.name`).
 */
swarm_service: string | null, user: string, ports: Array<string>, restart_count: number, 
/**
 * The names of its labels. Values are not passed on: compose fills labels from
 * `.env` and proxies keep credentials in them (Traefik's basic-auth users).
 */
label_names: Array<string>, 
/**
 * The names of the variables in its environment; values are never read out.
 */
env_names: Array<string>, };

export type ContainmentRun = { action: string, run_id: string, at: string, state: ContainmentState, by: Vantage | null, detail: string, };

export type ContainmentState = "running" | "verified" | "not_verified";

export type DeploymentStatus = { deployment: string, checked_at: string, hosts: Array<HostStatus>, database: Check | null, app_health: Check | null, 
/**
 * Milliseconds the whole status took.
 */
took_ms: number, };

/**
 * Summary shown in lists: no secret, nothing that needs a connection.
 */
export type DeploymentSummary = { name: string, app_profile: string, description: string | null, public_url: string | null, hosts: Array<HostSummary>, services: Array<string>, };

/**
 * Everything `init` found, and what it could not find.
 */
export type Discovery = { hosts: Array<HostFinding>, 
/**
 * Every compose project and Swarm stack seen, also those `--project` left out: when
 * a host runs several, the person chooses which one this deployment is.
 */
projects: Array<ProjectFinding>, services: Array<ServiceFinding>, 
/**
 * `(via_host, address, port, database name, tls)`.
 */
database: [string, string, number, string, string] | null, 
/**
 * A PostgreSQL container seen: `(host, container name)`.
 */
db_container: [string, string] | null, 
/**
 * `(via_host, address, port, password variable, database number)`.
 */
redis: [string, string, number, string | null, number] | null, backups: [string, string] | null, 
/**
 * `https://<host>`, and where it was read (a proxy's labels or configuration file).
 */
public_url: [string, string] | null, 
/**
 * Where a pgBackRest configuration was found (`host:path`).
 */
pgbackrest: string | null, 
/**
 * The built-in app profile whose tables and columns all exist, if one does.
 */
app_profile: string | null, 
/**
 * Why each other built-in profile did not fit, or why none could be checked.
 */
app_profile_notes: Array<string>, 
/**
 * Whatever could not be discovered, said plainly.
 */
notes: Array<string>, };

/**
 * What changed since the previous audit of the same deployment.
 */
export type Drift = { previous_at: string, previous_score: number, changes: Array<Change>, };

/**
 * How a backup file is encrypted (its name ends in `.age`, `.gpg` or `.asc`): decrypted
 * on the server, the key from the keychain (`backup-key`) on stdin.
 */
export type Encryption = "age" | "gpg";

export type Entry = { seq: number, incident: number | null, at: string, operator: string, deployment: string, 
/**
 * Groups the entries of one action run.
 */
run_id: string, 
/**
 * `action.planned`, `action.step`, `action.verified`, `action.finished`, `incident.opened`…
 */
kind: string, body: unknown, prev_hash: string, hash: string, 
/**
 * HMAC-SHA256 under the journal key over `hash` (see `auth`); `None` for an entry
 * written before migration 0003.
 */
mac: string | null, };

export type EnvBack = { 
/**
 * The file written (a symlink's target).
 */
path: string, backup: string, 
/**
 * SHA-256 of what the rotation wrote: the undo writes only over that.
 */
rotated_sha256: string, };

export type ErrorCode = "action.aborted" | "action.cancelled" | "action.confirmation_required" | "action.plan_changed" | "action.unavailable" | "action.verify_failed" | "lock.failed" | "lock.timeout" | "restore" | "argument.invalid" | "app_profile.unknown" | "profile.invalid" | "runbook.invalid" | "profile.syntax" | "deployment.no_database" | "deployment.no_env_file" | "deployment.unknown" | "deployment.unknown_host" | "ssh.agent" | "ssh.auth_rejected" | "ssh.bad_fingerprint" | "ssh.channel" | "ssh.config" | "ssh.disconnected" | "ssh.host_key_changed" | "ssh.host_key_unknown" | "ssh.jump" | "ssh.key" | "ssh.not_trusted" | "ssh.pin_conflict" | "ssh.protocol" | "ssh.timeout" | "ssh.unreachable" | "db.bad_url" | "db.connect" | "db.no_credentials" | "db.query" | "db.tls" | "db.tunnel" | "docker.api" | "docker.exit_status" | "docker.no_such_container" | "docker.bad_name" | "redis.io" | "redis.protocol" | "redis.refused" | "http.unreachable" | "remote.env_file" | "remote.exit_status" | "remote.read" | "incident.unknown" | "journal" | "journal.head" | "journal.tampered" | "keychain.invalid_name" | "keychain.locked" | "keychain.not_set" | "keychain.rejected" | "keychain.task" | "keychain.unavailable" | "secret.empty" | "state.database" | "state.migration" | "state.no_data_dir" | "io.read" | "io.write" | "io.stdin" | "output.json" | "ui.error";

/**
 * How an error crosses to the window and to `--json` output: a stable code, the
 * message for a person, and the full text for logs and the terminal.
 */
export type ErrorReport = { code: ErrorCode, message: string, detail: string, };

export type Event = { at: string, action: string, user: string, ip: string, };

/**
 * What a finding rests on.
 */
export type Evidence = { 
/**
 * Where it was read: the command run on the host, or the API call.
 */
command: string, 
/**
 * The relevant part of what it printed, the `.env`'s values redacted.
 */
output: string, 
/**
 * SHA-256 of everything it printed, so the evidence can be matched later.
 */
digest: string, };

/**
 * The request: expire sessions, all or one user's (table-backed sessions only).
 */
export type ExpireSessions = { user: string | null, };

export type FailedByIp = { ip: string, failures: number, first: string, last: string, };

/**
 * One finding of the audit.
 */
export type Finding = { 
/**
 * Stable name of the check (`ssh.password_auth`, `container.privileged`…).
 */
check: string, host: string | null, 
/**
 * The container, file or service it is about, when not the host itself.
 */
subject: string | null, verdict: Verdict, detail: string, evidence: Evidence | null, 
/**
 * The checklist item, as the seed words it, and which seed.
 */
checklist: string, 
/**
 * What to do, exactly (empty on a pass).
 */
fix: string, 
/**
 * Accepted by a person, with a reason, until a date (still shown, not counted).
 */
accepted: Acceptance | null, 
/**
 * How much a failure of this check matters (the check's, [`report::severity`]).
 */
severity: Severity, };

/**
 * A finding as a later audit finds it again: its check, host and subject.
 */
export type FindingRef = { check: string, host: string | null, subject: string | null, };

/**
 * The result of a hardening audit.
 */
export type HardeningReport = { deployment: string, checked_at: string, findings: Array<Finding>, took_ms: number, score: Score, 
/**
 * The public URL on the HTTP Observatory's rubric (none without a public URL, or
 * when it did not answer).
 */
observatory: Observatory | null, 
/**
 * Findings that combine into a worse risk.
 */
links: Array<Link>, 
/**
 * What changed since the previous audit (none for the first).
 */
drift: Drift | null, };

/**
 * The last entry of the journal, as pasted into a ticket: `seq`, `hash` and `at` name it
 * (`seq` 0 and [`super::GENESIS`] for an empty journal).
 */
export type Head = { seq: number, hash: string, at: string, };

/**
 * What one host showed.
 */
export type HostFinding = { name: string, roles: Array<string>, pin: string | null, env_file: string | null, 
/**
 * `600 deploy:deploy`, as `stat` printed it.
 */
env_file_mode: string | null, docker: boolean, };

/**
 * A host key that stops the connection.
 */
export type HostKeyProblem = { "kind": "unknown", fingerprint: string, key_type: string, } | { "kind": "changed", pinned: string, seen: string, };

export type HostStatus = { name: string, address: string, roles: Array<string>, reachable: boolean, 
/**
 * Time to connect and authenticate, when this status opened the connection.
 */
connect_ms: number | null, 
/**
 * One SSH round trip over the held connection (no remote process is started).
 */
latency_ms: number | null, host_key: string | null, 
/**
 * Set when the host key is not trusted yet, or has changed: what to show a person.
 */
host_key_problem: HostKeyProblem | null, error: ErrorReport | null, docker_version: string | null, docker_error: ErrorReport | null, 
/**
 * The deployment's containers on this host: those its profile's services name (or the
 * task containers of its Swarm services); every container when the profile names none.
 */
containers: Array<ContainerInfo>, 
/**
 * Whatever else runs on the host: shown, never judged (another project's unhealthy
 * container does not make this deployment degraded).
 */
other_containers: Array<ContainerInfo>, };

export type HostSummary = { name: string, address: string, port: number, roles: Array<string>, host_key: string | null, 
/**
 * The host it is reached through, if any.
 */
jump: string | null, 
/**
 * Whether it runs a Docker Engine.
 */
docker: boolean, };

export type Incident = { id: number, title: string, opened_at: string, opened_by: string, closed_at: string | null, 
/**
 * The deployment it is about; `None` for an incident opened before incidents
 * belonged to one (console wide).
 */
deployment: string | null, };

export type IncidentView = { incident: Incident, timeline: Array<TimelineItem>, 
/**
 * The latest run of each containment action, in the order first run.
 */
containment: Array<ContainmentRun>, 
/**
 * When the incident became contained (and stayed so): every containment action's
 * latest run verified. `None`: not contained (or nothing run yet).
 */
contained_at: string | null, secs_to_contained: number | null, secs_to_closed: number | null, };

/**
 * What `init` found and the profile it wrote from it.
 */
export type InitFound = { profile_text: string, discovery: Discovery, 
/**
 * For a deployment the console knew already: the lines that differ (`- …`, `+ …`)
 * from the profile it has, comments aside.
 */
changes: Array<string> | null, };

/**
 * Where `init` stands: a host key a person must confirm first, or what it found.
 */
export type InitStep = { "state": "needs_trust", host: string, fingerprint: string, key_type: string, } | { "state": "found" } & InitFound;

/**
 * A run that started and never finished.
 */
export type Interrupted = { run_id: string, deployment: string, action: string, summary: string, operator: string, at: string, steps: Array<InterruptedStep>, 
/**
 * Whether any done step can be undone (`breakglass undo RUN`).
 */
undoable: boolean, };

export type InterruptedStep = { step: number, description: string, 
/**
 * `done`, `undone`, `failed`, `started (outcome unknown)`, `not started`.
 */
state: string, undo: ActionSpec | null, };

/**
 * The request: cut a container off.
 */
export type Isolate = { host: string, container: string, mode: IsolateMode, };

export type IsolateMode = "stop" | "pause" | "disconnect";

/**
 * The journal as the window shows it: every entry, and what verifying them found.
 */
export type JournalView = { entries: Array<Entry>, verification: Verification, };

/**
 * The console's key file, and the old one kept beside it.
 */
export type KeyFileBack = { 
/**
 * The key file written (a symlink's target).
 */
path: string, 
/**
 * The old key file, kept (mode 600).
 */
kept: string, 
/**
 * The old key, `type base64`.
 */
old_key: string, 
/**
 * The new key, `type base64`.
 */
new_key: string, 
/**
 * The `.pub` file rewritten beside it, if there was one.
 */
pub_file: string | null, 
/**
 * What that `.pub` file held (a public key and its comment), to put back.
 */
pub_text: string | null, };

/**
 * One `authorized_keys` file, and how to put it back.
 */
export type KeysBack = { 
/**
 * The file written (a symlink's target).
 */
path: string, 
/**
 * The mode-600 copy of what it held before.
 */
backup: string, 
/**
 * SHA-256 of what the step wrote: the backup goes back only over that.
 */
wrote_sha256: string, 
/**
 * SHA-256 of what the backup must hold.
 */
before_sha256: string, 
/**
 * Undo of an addition: the lines of this key (`type base64`) are removed.
 */
remove_key: string | null, 
/**
 * Undo of a removal: these lines (as they were) are added back.
 */
add_lines: Array<string>, 
/**
 * Undo of a removal: the old private key, kept on the console's machine. Gone
 * (deleted after a rotation for a leak), the old lines are not put back: they would
 * open the host again to whoever else holds that key, and to no one here.
 */
kept: string | null, };

/**
 * A deployment the console knows: where its profile is and what it said when added.
 */
export type KnownDeployment = { profile_path: string, added_at: string, updated_at: string, name: string, app_profile: string, description: string | null, public_url: string | null, hosts: Array<HostSummary>, services: Array<string>, };

/**
 * Findings that together make a worse risk than each alone.
 */
export type Link = { title: string, 
/**
 * What an attacker can do with all of them.
 */
risk: string, findings: Array<FindingRef>, };

/**
 * The request: lock accounts for `duration_secs` (absent: until unlocked).
 */
export type LockAccounts = { scope: LockScope, duration_secs: number | null, };

export type LockScope = { "kind": "all-non-admin" } | { "kind": "user", "value": string };

/**
 * The public URL scored on the MDN HTTP Observatory's published rubric
 * (developer.mozilla.org/en-US/observatory/docs/tests_and_scoring): 100, minus the
 * penalties, plus the bonuses when the result is 90 or more; never below 0. Subresource
 * Integrity is not scored (it needs the page's HTML parsed): `tests` says so.
 */
export type Observatory = { score: number, grade: string, tests: Array<ObservatoryTest>, };

/**
 * One test of the Observatory's rubric, as its documentation names the result.
 */
export type ObservatoryTest = { test: string, result: string, modifier: number, };

export type Param = { name: string, help: string, };

export type ParkedRef = { name: string, parked_as: string, old_id: string, new_id: string, was_running: boolean, };

/**
 * The exact preview of a run.
 */
export type Plan = { action: string, deployment: string, 
/**
 * One line a person reads before confirming.
 */
summary: string, 
/**
 * How many rows, keys or containers will change.
 */
count: number, 
/**
 * A few of them, by name.
 */
sample: Array<string>, 
/**
 * The steps, in order.
 */
steps: Array<string>, 
/**
 * For each step: whether it can be undone (a failure later undoes it).
 */
reversible: Array<boolean>, destructive: boolean, 
/**
 * What a person must know before confirming that the counts do not say: settings
 * on the database role that change behaviour, a container sharing another's
 * network, duplicated `.env` keys… Text from the deployment: print it safely.
 */
warnings: Array<string>, 
/**
 * SHA-256 of everything above: a confirmation names the plan it confirms.
 */
digest: string, };

export type Problem = { kind: ProblemKind, 
/**
 * The entry concerned, if one is.
 */
seq: number | null, message: string, };

export type ProblemKind = "edited" | "deleted" | "inserted" | "tail_truncated" | "rewritten" | "unauthenticated" | "head_missing" | "head_forged" | "incident_edited";

/**
 * A compose project or a Swarm stack running on a host.
 */
export type ProjectFinding = { host: string, name: string, 
/**
 * `compose` or `stack`.
 */
kind: string, };

/**
 * The request: undo an isolation — start, unpause, or reconnect the named networks
 * (none named: those this console's journal recorded for the disconnect).
 */
export type Restore = { host: string, container: string, mode: IsolateMode, networks: Array<string>, };

/**
 * One finding of a restore test, with its evidence.
 */
export type RestoreCheck = { 
/**
 * `backup`, `age`, `format`, `disk`, `download` (a bucket's object), `restore`,
 * `schema`, `rows`, `invariants`, `newest_row`, `cleanup`.
 */
name: string, status: CheckStatus, detail: string, };

/**
 * Progress of a restore test, as it happens.
 */
export type RestoreEvent = { "kind": "phase", phase: string, detail: string, } | { "kind": "check", check: RestoreCheck, };

/**
 * The result of a restore test.
 */
export type RestoreReport = { deployment: string, run_id: string, backup: BackupFile | null, 
/**
 * The scratch database the backup was restored into (dropped since).
 */
scratch: string | null, started_at: string, 
/**
 * Wall time of the restore itself (the RTO).
 */
rto_ms: number | null, backup_age_secs: number | null, 
/**
 * The age of the newest row restored: the data lost if disaster struck now.
 */
data_rpo_secs: number | null, newest_row_at: string | null, rpo_target_secs: number, checks: Array<RestoreCheck>, 
/**
 * Every check passed (warnings allowed), and the scratch database is gone.
 */
passed: boolean, cancelled: boolean, cleaned_up: boolean, 
/**
 * Scratch databases of earlier tests, left by a console that was killed, dropped now.
 */
leftovers_removed: Array<string>, took_ms: number, };

/**
 * One restore test as the journal keeps it (the history the window charts).
 */
export type RestoreRun = { 
/**
 * When it finished (the journal entry's time).
 */
at: string, run_id: string, backup: string | null, passed: boolean, cancelled: boolean, rto_ms: number | null, backup_age_secs: number | null, data_rpo_secs: number | null, 
/**
 * The checks that failed, by name.
 */
failed: Array<string>, };

/**
 * The request: which tokens.
 */
export type RevokeTokens = { scope: TokenScope, };

/**
 * The request: a new value for this Docker secret (by name), and every service that
 * mounts it rolled onto it.
 */
export type RotateDockerSecret = { secret: string, };

/**
 * The request that undoes one step of a Swarm secret rotation: a service back onto the
 * old secret, or the new secret removed. Names and IDs only.
 */
export type RotateDockerSecretUndo = { 
/**
 * The profile's host whose engine is the swarm manager.
 */
host: string, 
/**
 * The secret the rotation created: removed (when no service mounts it).
 */
created: SecretRef | null, 
/**
 * A service the rotation moved: back onto the old secret.
 */
service: ServiceSwap | null, };

/**
 * The request: new values for these variables, everywhere they are used.
 */
export type RotateSecrets = { vars: Array<string>, 
/**
 * Groups of the app profile's `[rotate]` to rotate as well (`--group sessions`).
 */
groups: Array<string>, 
/**
 * Every secret the app profile names that some `.env` holds (`--all`), less the
 * keys of stored data and the third parties' secrets no value was pasted for (the
 * plan names what it leaves out).
 */
all: boolean, };

/**
 * The request: a new SSH key for the console on every host of the deployment.
 */
export type RotateSshKey = Record<symbol, never>;

/**
 * The request that undoes one step of an SSH key rotation: an `authorized_keys` file
 * back as it was (or the lines edited back, when it changed since), or the old key
 * file back. Paths and public keys only. Neither: nothing to undo.
 */
export type RotateSshKeyUndo = { host: string | null, keys: KeysBack | null, key_file: KeyFileBack | null, };

/**
 * The request that undoes one step of a rotation: a host's `.env` back from its backup
 * (if it still holds what the rotation wrote), or a container back (the new one
 * removed, the parked old one renamed and started). Paths and names only.
 */
export type RotateUndo = { host: string, env: EnvBack | null, container: ParkedRef | null, 
/**
 * The database role's password back to the one in `host`'s `.env` (restored by
 * then: undo runs in reverse).
 */
db_password_from_env: boolean, };

/**
 * The outcome of a run.
 */
export type RunReport = { run_id: string, plan: Plan, 
/**
 * `nothing to do`, `done`, `done, but verification failed`, `cancelled, undone`,
 * `failed: …, undone`, `aborted`…
 */
outcome: string, 
/**
 * What run changed (rows, keys, containers), net of what was undone.
 */
changed: number, verified: boolean, verify_detail: string, 
/**
 * Steps that ran and were undone after a failure or a cancel.
 */
undone: number, 
/**
 * Whom verify asked (`None`: it did not run).
 */
verified_by: Vantage | null, };

/**
 * A runbook, checked: every step's action is a valid request once its parameters are
 * filled in.
 */
export type Runbook = { name: string, title: string, source: string | null, description: string, params: Array<Param>, steps: Array<StepDef>, 
/**
 * `None`: built in; else the file it was read from.
 */
path: string | null, };

/**
 * A runbook started on a deployment: the steps to walk, and the id its journal entries
 * share.
 */
export type RunbookRun = { run_id: string, runbook: string, title: string, steps: Array<Step>, };

/**
 * One number per audit, 0 to 100: the share of the checks' weight (critical 8, high 4,
 * medium 2, low 1) that passed, a warning counting half and a check that could not run
 * nothing. Accepted findings are left out of both sides.
 */
export type Score = { value: number, pass: number, warn: number, fail: number, unknown: number, accepted: number, };

/**
 * A keychain entry a deployment uses, and whether it is set. Never the value.
 */
export type SecretEntry = { name: string, 
/**
 * What the entry is for, in a person's words.
 */
purpose: string, set: boolean, };

export type SecretRef = { name: string, id: string, };

/**
 * A compose service as found on the hosts.
 */
export type ServiceFinding = { name: string, containers: Array<string>, 
/**
 * The Swarm service it is, and the Docker secrets (names) it mounts.
 */
swarm_service: string | null, docker_secrets: Array<string>, 
/**
 * The `.env` variables its containers have (by name).
 */
env: Array<string>, health_path: string | null, };

export type ServiceSwap = { service: string, service_id: string, old: SecretRef, new: SecretRef, 
/**
 * The service's own update and rollback settings before the rotation, as Docker
 * spells them (`[UpdateConfig, RollbackConfig]`, JSON): put back after the roll.
 */
settings: string, };

/**
 * How much a failure of a check matters.
 */
export type Severity = "low" | "medium" | "high" | "critical";

/**
 * A step ready to run.
 */
export type Step = { "kind": "action", title: string, spec: ActionSpec, } | { "kind": "review", title: string, since: string, } | { "kind": "manual", title: string, text: string, } | { "kind": "report", title: string, };

/**
 * One step as written (parameters not filled in yet).
 */
export type StepDef = { title: string, kind: StepKind, 
/**
 * What the step does, in one line (`revoke-tokens`, `review the last 24h`, …).
 */
what: string, };

export type StepKind = "action" | "review" | "manual" | "report";

export type StepStatus = "started" | "done" | "failed" | "undoing" | "undone" | "undo_failed";

/**
 * What storing a value did: `replaced` when one was already set. Never the value.
 */
export type Stored = { replaced: boolean, };

export type SuccessAfterFailures = { ip: string, at: string, user: string, failures_before: number, };

export type TimelineItem = { seq: number, at: string, operator: string, deployment: string, kind: string, run_id: string, 
/**
 * One line, as the report prints it.
 */
what: string, tone: Tone, };

export type TokenScope = { "kind": "all" } | { "kind": "user", "value": string } | { "kind": "id", "value": number } | { "kind": "created-since", "value": string };

/**
 * How a timeline line should look.
 */
export type Tone = "verified" | "verified_database_only" | "failed" | "note" | "info";

export type TrustedKey = { host: string, address: string, port: number, fingerprint: string, key_type: string, trusted_at: string, trusted_by: string, };

/**
 * The request: undo the run with this id.
 */
export type Undo = { run_id: string, };

/**
 * The request: unlock accounts.
 */
export type UnlockAccounts = { scope: LockScope, };

/**
 * Whom verify asked. The database and Redis are what the leaked `.env` opens, so a
 * verify that asked only them says so; the app, asked as a client with the canary
 * account, is another witness.
 */
export type Vantage = "app" | "database" | "redis" | "docker" | "hosts";

/**
 * What one check found.
 */
export type Verdict = "pass" | "warn" | "fail" | "unknown";

/**
 * What `verify` found.
 */
export type Verification = { entries: number, 
/**
 * No problem at all.
 */
ok: boolean, 
/**
 * The journal's last entry (what to paste into a ticket); `None` if it is empty.
 */
head: Head | null, problems: Array<Problem>, 
/**
 * Benign findings that are not tampering (e.g. a head file one append behind after
 * a crash).
 */
notes: Array<string>, };

/** A channel of events from the engine to the page that started a command. */
export type Channel<T> = { onmessage: (message: T) => void };

/** Every command the page may invoke: its arguments, its events, what it returns. */
export type Commands = {
  list_deployments: { args: {  }; events: never; returns: Array<KnownDeployment> };
  show_deployment: { args: { name: string }; events: never; returns: DeploymentSummary };
  deployment_status: { args: { name: string }; events: never; returns: DeploymentStatus };
  trust_host: { args: { name: string; host: string; fingerprint: string }; events: never; returns: TrustedKey };
  secret_status: { args: { name: string }; events: never; returns: Array<SecretEntry> };
  secret_set: { args: { name: string; entry: string; value: string }; events: never; returns: Stored };
  secret_delete: { args: { name: string; entry: string }; events: never; returns: boolean };
  plan_action: { args: { name: string; spec: ActionSpec }; events: never; returns: Plan };
  run_action: { args: { name: string; spec: ActionSpec; confirm: string; planDigest: string | null; key: string; onEvent: Channel<ActionEvent> }; events: ActionEvent; returns: RunReport };
  cancel_action: { args: { key: string }; events: never; returns: boolean };
  interrupted_runs: { args: {  }; events: never; returns: Array<Interrupted> };
  audit_review: { args: { name: string; sinceSecs: number }; events: never; returns: AuditReview };
  list_backups: { args: { name: string }; events: never; returns: Array<BackupFile> };
  restore_test: { args: { name: string; backup: string | null; key: string; onEvent: Channel<RestoreEvent> }; events: RestoreEvent; returns: RestoreReport };
  restore_history: { args: { name: string }; events: never; returns: Array<RestoreRun> };
  journal_entries: { args: {  }; events: never; returns: JournalView };
  incident_current: { args: { name: string }; events: never; returns: IncidentView | null };
  incident_open: { args: { name: string; title: string }; events: never; returns: IncidentView };
  incident_note: { args: { id: number; text: string }; events: never; returns: IncidentView };
  incident_close: { args: { id: number }; events: never; returns: IncidentView };
  incident_report: { args: { id: number; format: string }; events: never; returns: string };
  runbook_list: { args: {  }; events: never; returns: Array<Runbook> };
  runbook_start: { args: { name: string; runbook: string; params: Array<[string, string]> }; events: never; returns: RunbookRun };
  runbook_step: { args: { name: string; runId: string; step: number; title: string; done: boolean; detail: string }; events: never; returns: boolean };
  harden_audit: { args: { name: string }; events: never; returns: HardeningReport };
  harden_accept: { args: { name: string; check: string; host: string | null; subject: string | null; reason: string; duration: string }; events: never; returns: Acceptance };
  harden_export: { args: { name: string; format: string }; events: never; returns: string };
  harden_history: { args: { name: string }; events: never; returns: Array<[string, number]> };
  init_discover: { args: { name: string; hosts: Array<string>; key: string | null; dockerSockets: Array<string>; project: string | null }; events: never; returns: InitStep };
  init_finish: { args: { name: string; profileText: string }; events: never; returns: KnownDeployment };
  init_abandon: { args: { name: string }; events: never; returns: boolean };
};
