//! From nothing but SSH addresses to a working profile: `breakglass init` against the
//! testbed writes a profile equivalent to the testbed's own (hosts, pins, services and
//! the variables each uses, the database, Redis, backups, the app profile), holds no
//! secret, and says what changed when it runs again.

use std::process::{Command, Output};

use breakglass::engine::profiles::DeploymentProfile;

use crate::actions::isolate::docker_app3;
use crate::testbed::{psql, testbed};

fn init(data: &std::path::Path, args: &[&str]) -> Output {
    let tb = testbed();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakglass"));
    cmd.arg("init").args(args).env("BREAKGLASS_DATA_DIR", data);
    for (i, host) in ["app1", "app2", "app3"].iter().enumerate() {
        let h = tb.host(host);
        cmd.args(["--host", &format!("{host}=root@127.0.0.1:{}", h["ssh_port"])]);
        cmd.args([
            "--docker-socket",
            &format!("{host}={}", h["docker_socket"].as_str().unwrap()),
        ]);
        let _ = i;
    }
    cmd.args([
        "--key",
        &tb.str("/client_key"),
        "--known-hosts",
        &tb.str("/known_hosts"),
    ]);
    let out = cmd.output().unwrap();
    let secrets = tb.secret_values();
    tb.assert_no_secret_in(&secrets, &out.stdout, "init's stdout");
    tb.assert_no_secret_in(&secrets, &out.stderr, "init's stderr");
    out
}

/// `breakglass init NAME` of app3 alone (its SSH address, key, pins and Docker socket),
/// with `extra` arguments, writing the profile to `work/out`.
fn init_app3(
    data: &std::path::Path,
    work: &std::path::Path,
    name: &str,
    socket: &str,
    out: &str,
    extra: &[&str],
) -> Output {
    let tb = testbed();
    Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["init", name])
        .args(extra)
        .args([
            "--host",
            &format!("app3=root@127.0.0.1:{}", tb.host("app3")["ssh_port"]),
        ])
        .args(["--docker-socket", &format!("app3={socket}")])
        .args([
            "--key",
            &tb.str("/client_key"),
            "--known-hosts",
            &tb.str("/known_hosts"),
        ])
        .args(["--out", work.join(out).to_str().unwrap()])
        .env("BREAKGLASS_DATA_DIR", data)
        .output()
        .unwrap()
}

#[tokio::test]
async fn init_writes_the_testbeds_profile_from_its_ssh_addresses() {
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("state");
    let name = format!("sb-init-{}", std::process::id());
    let file = work.path().join("found.toml");
    let out = init(&data, &[&name, "--out", file.to_str().unwrap(), "--yes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let written = std::fs::read_to_string(&file).unwrap();
    let found = DeploymentProfile::parse(&written).unwrap();
    let want = DeploymentProfile::parse(&std::fs::read_to_string(tb.profile_path()).unwrap()).unwrap();
    assert_eq!(found.app_profile.get_ref(), "homechat", "{written}");

    // Hosts: the same addresses, ports and pins, the roles the containers show.
    let s = |p: &DeploymentProfile| {
        p.summary()
            .hosts
            .into_iter()
            .map(|h| (h.name, h.port, h.host_key))
            .collect::<Vec<_>>()
    };
    assert_eq!(s(&found), s(&want), "{written}");
    let roles = |p: &DeploymentProfile, host: &str| {
        p.summary()
            .hosts
            .into_iter()
            .find(|h| h.name == host)
            .unwrap()
            .roles
    };
    assert!(
        roles(&found, "app1").contains(&"web".to_owned())
            && roles(&found, "app1").contains(&"worker".to_owned())
    );

    // Services and the .env variables each uses.
    let services = |p: &DeploymentProfile| {
        let mut v: Vec<(String, Vec<String>, Vec<String>)> = p
            .services
            .iter()
            .map(|s| {
                let mut c: Vec<String> = s.containers.iter().map(|c| c.get_ref().clone()).collect();
                let mut e: Vec<String> = s.env.iter().map(|e| e.get_ref().clone()).collect();
                c.sort();
                e.sort();
                (s.name.get_ref().clone(), c, e)
            })
            .collect();
        v.sort();
        v
    };
    // The same services and containers. A container started with the whole `.env`
    // (`env_file:`) has every variable of it: the found lists hold at least the ones the
    // testbed's hand-written profile names, and nothing that is not in the .env.
    let (fs, ws) = (services(&found), services(&want));
    assert_eq!(
        fs.iter().map(|(n, c, _)| (n, c)).collect::<Vec<_>>(),
        ws.iter().map(|(n, c, _)| (n, c)).collect::<Vec<_>>(),
        "{written}"
    );
    let env_keys: Vec<String> = tb.env_of("app1").into_keys().collect();
    for ((name, _, found_env), (_, _, want_env)) in fs.iter().zip(&ws) {
        assert!(
            want_env.iter().all(|v| found_env.contains(v)),
            "{name}: {found_env:?} ⊉ {want_env:?}"
        );
        assert!(
            found_env.iter().all(|v| env_keys.contains(v)),
            "{name}: {found_env:?}"
        );
    }

    // The database, Redis and backups.
    let (fd, wd) = (found.database.as_ref().unwrap(), want.database.as_ref().unwrap());
    assert_eq!(
        (fd.via_host.get_ref(), &fd.address, fd.port, &fd.name),
        (wd.via_host.get_ref(), &wd.address, wd.port, &wd.name)
    );
    let (fr, wr) = (found.redis.as_ref().unwrap(), want.redis.as_ref().unwrap());
    assert_eq!((fr.port, &fr.password_env), (wr.port, &wr.password_env));
    assert_eq!(
        found
            .backups
            .as_ref()
            .map(|b| b.path.as_ref().map(|p| p.get_ref().clone())),
        want.backups
            .as_ref()
            .map(|b| b.path.as_ref().map(|p| p.get_ref().clone()))
    );
    assert_eq!(
        found
            .host("app1")
            .unwrap()
            .env_file
            .as_ref()
            .map(|e| e.get_ref().clone()),
        want.host("app1")
            .unwrap()
            .env_file
            .as_ref()
            .map(|e| e.get_ref().clone())
    );

    // Added, and it works: status over the discovered profile.
    let engine = breakglass::engine::Engine::open(&data).await.unwrap();
    let st = engine.status(&name).await.unwrap();
    assert!(st.hosts.iter().all(|h| h.reachable), "{st:?}");
    assert!(st.database.as_ref().is_some_and(|d| d.ok), "{st:?}");
    drop(engine);

    // No secret in the profile or the console's files.
    tb.assert_no_secret_in(&tb.secret_values(), written.as_bytes(), "the written profile");
    tb.assert_no_secret_in_dir(&data);

    // Again: nothing changed, and it says so.
    let again = init(
        &data,
        &[&name, "--out", work.path().join("again.toml").to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("No difference from the profile"), "{text}");

    // The console's profile forgot the worker: running init again says what it finds.
    let without_worker = written
        .split("\n[[services]]")
        .filter(|block| !block.contains("name = \"worker\""))
        .collect::<Vec<_>>()
        .join("\n[[services]]");
    let stale = work.path().join("stale.toml");
    std::fs::write(&stale, without_worker).unwrap();
    // As a person would: `deployment add` of the edited file.
    let added = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["deployment", "add", stale.to_str().unwrap()])
        .env("BREAKGLASS_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let again = init(
        &data,
        &[&name, "--out", work.path().join("again2.toml").to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("Differences from the profile") && text.contains("+ containers = [\"worker\"]"),
        "{text}"
    );
}

#[tokio::test]
async fn init_refuses_hostile_host_specs_and_removes_what_it_added_when_it_fails() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["init", "bad", "--host", "root@host;rm -rf /"])
        .env("BREAKGLASS_DATA_DIR", &data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("argument.invalid"));
    // An unreachable host: the provisional deployment is not left behind.
    let out = Command::new(env!("CARGO_BIN_EXE_breakglass"))
        .args(["init", "gone", "--host", "root@127.0.0.1:9", "--yes"])
        .env("BREAKGLASS_DATA_DIR", &data)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engine = breakglass::engine::Engine::open(&data).await.unwrap();
    assert!(engine.deployments().await.unwrap().is_empty());
}

#[tokio::test]
async fn init_says_plainly_what_it_could_not_find_and_writes_the_rest() {
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("state");
    let base =
        |name: &str, socket: &str, out: &str| init_app3(&data, work.path(), name, socket, out, &["--yes"]);
    // No Docker Engine where it looks: the host is written with docker = false.
    let out = base("nodocker", "/nonexistent/docker.sock", "a.toml");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("a.toml")).unwrap();
    assert!(
        written.contains("docker = false") && written.contains("no Docker Engine answered"),
        "{written}"
    );
    assert!(DeploymentProfile::parse(&written).is_ok());

    // A container without compose labels is named, not grouped; the rest is found.
    let name = format!("nolabels-{}", std::process::id());
    assert!(
        docker_app3(&[
            "run",
            "-d",
            "--init",
            "--name",
            &name,
            "--entrypoint",
            "/bin/busybox",
            "sandbox-app:latest",
            "sleep",
            "120"
        ])
        .is_ok()
    );
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let out = base("nolabels", &socket, "b.toml");
    let _ = docker_app3(&["rm", "-f", &name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("b.toml")).unwrap();
    assert!(
        written.contains(&format!("container {name} has no compose labels")),
        "{written}"
    );
    let found = DeploymentProfile::parse(&written).unwrap();
    assert!(
        found.services.iter().any(|s| s.name.get_ref() == "web"),
        "{written}"
    );
}

/// A container on app3 that only sleeps, named `name`, carrying `labels` (as Compose
/// writes them) and the variables `env` (`NAME=value`); removed however the test ends.
fn compose_labelled(name: &str, labels: &[String], env: &[&str]) -> RemoveContainer {
    let mut args = vec!["run", "-d", "--init", "--name", name];
    for l in labels {
        args.extend(["--label", l.as_str()]);
    }
    for e in env {
        args.extend(["-e", e]);
    }
    args.extend([
        "--entrypoint",
        "/bin/busybox",
        "sandbox-app:latest",
        "sleep",
        "300",
    ]);
    let guard = RemoveContainer(name.to_owned());
    docker_app3(&args).unwrap();
    guard
}

/// Removes a container of app3 however the test ends.
struct RemoveContainer(String);

impl Drop for RemoveContainer {
    fn drop(&mut self) {
        let _ = docker_app3(&["rm", "-f", &self.0]);
    }
}

/// Stops a compose project however the test ends.
struct ComposeDown(Vec<String>);

impl Drop for ComposeDown {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .args(&self.0)
            .args(["down", "-t", "1"])
            .output();
    }
}

#[tokio::test]
async fn init_finds_a_real_compose_project_from_its_labels() {
    // Debian's docker-compose (1.29, the Python one: the Compose v2 plugin is not in
    // Debian) brings a project up on app3's engine; init finds it from the labels
    // Compose itself wrote.
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    let secret = "shop-secret-value-that-must-not-leak-9f3a";
    // The variables live in `app.env`, named by the compose file's `env_file:` (there is
    // no `.env`): init finds them where compose does.
    std::fs::write(
        project.join("app.env"),
        format!("SHOP_API_SECRET={secret}\nDATABASE_URL=postgres://shop:{secret}@127.0.0.1:5432/shop\n"),
    )
    .unwrap();
    std::fs::write(
        project.join("docker-compose.yml"),
        "version: \"3.7\"\nservices:\n  api:\n    image: sandbox-app:latest\n    entrypoint: [\"/bin/busybox\", \"sleep\", \"300\"]\n    init: true\n    env_file: app.env\n    labels:\n      - \"traefik.http.routers.shop.rule=Host(`shop.example.test`)\"\n      - \"traefik.http.middlewares.auth.basicauth.users=admin:$$apr1$$secret\"\n",
    )
    .unwrap();
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let name = format!("shop{}", std::process::id());
    let args = vec![
        "-H".to_owned(),
        format!("unix://{socket}"),
        "-p".to_owned(),
        name.clone(),
        "--project-directory".to_owned(),
        project.display().to_string(),
        "-f".to_owned(),
        project.join("docker-compose.yml").display().to_string(),
    ];
    let _down = ComposeDown(args.clone());
    let up = Command::new("docker-compose")
        .args(&args)
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));

    let data = work.path().join("state");
    let out = init_app3(&data, work.path(), "shop", &socket, "shop.toml", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("shop.toml")).unwrap();
    let found = DeploymentProfile::parse(&written).unwrap();
    let api = found
        .services
        .iter()
        .find(|s| s.name.get_ref() == "api")
        .unwrap_or_else(|| panic!("{written}"));
    assert_eq!(api.containers[0].get_ref(), &format!("{name}_api_1"));
    // The public URL from the proxy's router rule; the basic-auth label is never read.
    assert_eq!(
        found.public_url.as_ref().map(|u| u.get_ref().as_str()),
        Some("https://shop.example.test"),
        "{written}"
    );
    assert!(!written.contains("apr1"), "{written}");
    // Two projects on app3 (the testbed's and this one): init says so.
    assert!(written.contains("several compose projects"), "{written}");

    // Named, only that project is looked at, and its .env read.
    let out = init_app3(
        &data,
        work.path(),
        "shop",
        &socket,
        "shop-only.toml",
        &["--project", &name],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let only = std::fs::read_to_string(work.path().join("shop-only.toml")).unwrap();
    let p = DeploymentProfile::parse(&only).unwrap();
    let names: Vec<&str> = p.services.iter().map(|s| s.name.get_ref().as_str()).collect();
    assert_eq!(names, ["api"], "{only}");
    let env: Vec<&str> = p.services[0].env.iter().map(|e| e.get_ref().as_str()).collect();
    assert_eq!(env, ["DATABASE_URL", "SHOP_API_SECRET"], "{only}");
    let app3 = p.host("app3").unwrap();
    assert_eq!(
        app3.env_file.as_ref().map(|e| e.get_ref().clone()),
        Some(project.join("app.env").display().to_string()),
        "{only}"
    );
    assert!(!only.contains(secret), "{only}");
    for bytes in [written.as_bytes(), &out.stdout, &out.stderr] {
        tb.assert_no_secret_in(
            &[("the shop's secret".into(), secret.into())],
            bytes,
            "init's output",
        );
    }
    tb.assert_none_in_dir(&[("the shop's secret".into(), secret.into())], &data);
    // Not confirmed (no terminal, no --yes): nothing was added.
    let engine = breakglass::engine::Engine::open(&data).await.unwrap();
    assert!(engine.deployments().await.unwrap().is_empty());
}

/// Removes a Swarm service and its secret however the test ends.
struct SwarmDown {
    socket: String,
    service: String,
    secret: String,
}

impl Drop for SwarmDown {
    fn drop(&mut self) {
        let docker = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(["-H", &format!("unix://{}", self.socket)])
                .args(args)
                .output();
        };
        docker(&["service", "rm", &self.service]);
        docker(&["secret", "rm", &self.secret]);
    }
}

#[tokio::test]
async fn init_finds_swarm_services_their_secrets_and_public_url() {
    // The testbed's single-node swarm (reached through app3's sshd) runs a service of a
    // stack, with a Docker secret and a Traefik router label, as `docker stack deploy`
    // would label it; init names the service, its secret and the public URL.
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let socket = tb.str("/swarm/docker_socket");
    let stack = format!("st{}", std::process::id());
    let guard = SwarmDown {
        socket: socket.clone(),
        service: format!("{stack}_api"),
        secret: format!("{stack}_key_v1"),
    };
    let docker = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = Command::new("docker")
            .args(["-H", &format!("unix://{socket}")])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.unwrap_or("").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let secret = "swarm-secret-value-that-must-not-leak-51c2";
    docker(&["secret", "create", &guard.secret, "-"], Some(secret));
    let stack_label = format!("com.docker.stack.namespace={stack}");
    let secret_arg = format!("source={},target=api_key", guard.secret);
    let api_env = format!("API_TOKEN={secret}");
    docker(
        &[
            "service",
            "create",
            "--detach",
            "--name",
            &guard.service,
            "--label",
            &stack_label,
            "--container-label",
            &stack_label,
            "--label",
            "traefik.http.routers.api.rule=Host(`api.swarm.example.test`)",
            "--secret",
            &secret_arg,
            "--env",
            &api_env,
            "--env",
            "RAILS_ENV=production",
            "--entrypoint",
            "/bin/busybox sleep 300",
            "sandbox-app:latest",
        ],
        None,
    );

    let data = work.path().join("state");
    let out = init_app3(
        &data,
        work.path(),
        "swarm",
        &socket,
        "swarm.toml",
        &["--project", &stack],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("swarm.toml")).unwrap();
    let found = DeploymentProfile::parse(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    let api = found
        .services
        .iter()
        .find(|s| s.swarm_service.as_ref().map(|n| n.get_ref().as_str()) == Some(guard.service.as_str()))
        .unwrap_or_else(|| panic!("{written}"));
    assert!(api.containers.is_empty(), "{written}");
    let secrets: Vec<&str> = api.docker_secrets.iter().map(|s| s.get_ref().as_str()).collect();
    assert_eq!(secrets, [guard.secret.as_str()], "{written}");
    let env: Vec<&str> = api.env.iter().map(|s| s.get_ref().as_str()).collect();
    assert_eq!(env, ["API_TOKEN", "RAILS_ENV"], "{written}");
    assert_eq!(
        found.public_url.as_ref().map(|u| u.get_ref().as_str()),
        Some("https://api.swarm.example.test"),
        "{written}"
    );
    assert!(written.contains("Swarm service"), "{written}");
    let leak = [("the swarm's secret".to_owned(), secret.to_owned())];
    for bytes in [written.as_bytes(), &out.stdout, &out.stderr] {
        tb.assert_no_secret_in(&leak, bytes, "init's output");
    }
    tb.assert_none_in_dir(&leak, &data);
}

#[tokio::test]
async fn init_reads_the_public_url_from_a_proxys_own_configuration() {
    // No label names the public URL: the proxy container's Caddyfile (bind-mounted from
    // the project's folder) does. Its basic-auth hash is never copied.
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("site");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("Caddyfile"),
        "{\n  email ops@example.test\n}\n\n:2019 {\n  respond ok\n}\n\nsite.example.test, www.site.example.test {\n  basicauth /admin/* {\n    admin $2a$14$hashhashhash\n  }\n  reverse_proxy web:3000\n}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("docker-compose.yml"),
        "version: \"3.7\"\nservices:\n  caddy:\n    image: sandbox-app:latest\n    entrypoint: [\"/bin/busybox\", \"sleep\", \"300\"]\n    init: true\n    volumes:\n      - ./Caddyfile:/etc/caddy/Caddyfile:ro\n",
    )
    .unwrap();
    let tb = testbed();
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let name = format!("site{}", std::process::id());
    let args = vec![
        "-H".to_owned(),
        format!("unix://{socket}"),
        "-p".to_owned(),
        name.clone(),
        "--project-directory".to_owned(),
        project.display().to_string(),
        "-f".to_owned(),
        project.join("docker-compose.yml").display().to_string(),
    ];
    let _down = ComposeDown(args.clone());
    let up = Command::new("docker-compose")
        .args(&args)
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let data = work.path().join("state");
    let out = init_app3(
        &data,
        work.path(),
        "site",
        &socket,
        "site.toml",
        &["--project", &name],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("site.toml")).unwrap();
    let found = DeploymentProfile::parse(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(
        found.public_url.as_ref().map(|u| u.get_ref().as_str()),
        Some("https://site.example.test"),
        "{written}"
    );
    assert!(
        written.contains(&format!(
            "the proxy configuration {}",
            project.join("Caddyfile").display()
        )),
        "{written}"
    );
    assert!(!written.contains("hashhash"), "{written}");
    assert!(
        found
            .host("app3")
            .unwrap()
            .roles
            .iter()
            .any(|r| matches!(r, breakglass::engine::profiles::Role::Proxy)),
        "{written}"
    );
}

#[tokio::test]
async fn init_asks_at_a_terminal_which_of_several_projects_to_look_at() {
    // A second compose project on app3 beside the testbed's. At a terminal (a pty, from
    // util-linux's `script`), init lists both and asks; the answer "1" (the other
    // project, sorted first) looks at that one alone, and "no" adds nothing.
    let tb = testbed();
    let other = format!("aaother{}", std::process::id());
    let container = format!("{other}_cron_1");
    let _remove = compose_labelled(
        &container,
        &[
            format!("com.docker.compose.project={other}"),
            "com.docker.compose.service=cron".into(),
        ],
        &[],
    );
    let work = tempfile::tempdir().unwrap();
    let out_file = work.path().join("asked.toml");
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let command = [
        env!("CARGO_BIN_EXE_breakglass").to_owned(),
        "init".into(),
        "asked".into(),
        "--host".into(),
        format!("app3=root@127.0.0.1:{}", tb.host("app3")["ssh_port"]),
        "--docker-socket".into(),
        format!("app3={}", tb.host("app3")["docker_socket"].as_str().unwrap()),
        "--key".into(),
        tb.str("/client_key"),
        "--known-hosts".into(),
        tb.str("/known_hosts"),
        "--out".into(),
        out_file.display().to_string(),
    ]
    .iter()
    .map(|a| q(a))
    .collect::<Vec<_>>()
    .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("BREAKGLASS_DATA_DIR", work.path().join("state"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"1\nno\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("The hosts run several projects:")
            && shown.contains(&format!("1. {other} (compose on app3)"))
            && shown.contains("2. sandbox (compose on app3)"),
        "{shown}"
    );
    let written = std::fs::read_to_string(&out_file).unwrap();
    let p = DeploymentProfile::parse(&written).unwrap();
    let names: Vec<&str> = p.services.iter().map(|s| s.name.get_ref().as_str()).collect();
    assert_eq!(names, ["cron"], "{written}");
    assert!(shown.contains("not added"), "{shown}");
}

#[tokio::test]
async fn init_reports_a_broken_env_hostile_values_and_a_silent_database_and_writes_the_rest() {
    // A project (labelled as compose labels it) whose compose file names two env files:
    // one that is not a .env at all, and one whose values are hostile (quotes, command
    // substitutions, escape sequences) and whose DATABASE_URL points where nothing
    // answers. Each is said plainly; the rest is written; no value appears anywhere.
    let tb = testbed();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("odd");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = "odd-secret-value-that-must-not-leak-77e1";
    std::fs::write(dir.join("broken.env"), "GOOD=1\nBROKEN=\"never closed\n").unwrap();
    std::fs::write(
        dir.join("app.env"),
        format!(
            "ODD_TOKEN=\"{secret}\"\nSHELLY=$(touch /tmp/pwned-{pid})\nESCAPE=\u{1b}[31mred\u{1b}]0;title\u{7}\nQUOTED='{secret} \"$(id)\" `id`'\nMULTI=\"line one\nline two {secret}\"\nDATABASE_URL=postgres://app:{secret}@127.0.0.1:1/odd\n",
            pid = std::process::id()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        "services:\n  api:\n    image: sandbox-app:latest\n    env_file: [broken.env, app.env]\n",
    )
    .unwrap();
    let project = format!("odd{}", std::process::id());
    let container = format!("{project}_api_1");
    let _remove = compose_labelled(
        &container,
        &[
            format!("com.docker.compose.project={project}"),
            "com.docker.compose.service=api".into(),
            format!("com.docker.compose.project.working_dir={}", dir.display()),
            format!(
                "com.docker.compose.project.config_files={}",
                dir.join("docker-compose.yml").display()
            ),
        ],
        &["ODD_TOKEN=x", "DATABASE_URL=x"],
    );
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let data = work.path().join("state");
    let out = init_app3(
        &data,
        work.path(),
        "odd",
        &socket,
        "odd.toml",
        &["--project", &project],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("odd.toml")).unwrap();
    let p = DeploymentProfile::parse(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    // The broken file is named with its fault; the other one is the host's env_file.
    assert!(
        written.contains(&format!(
            "{} is not a readable .env",
            dir.join("broken.env").display()
        )) && written.contains("has no closing quote"),
        "{written}"
    );
    assert_eq!(
        p.host("app3")
            .unwrap()
            .env_file
            .as_ref()
            .map(|e| e.get_ref().clone()),
        Some(dir.join("app.env").display().to_string())
    );
    let env: Vec<&str> = p.services[0].env.iter().map(|e| e.get_ref().as_str()).collect();
    assert_eq!(env, ["DATABASE_URL", "ODD_TOKEN"], "{written}");
    // The database is written where the .env says; that it did not answer is said.
    let db = p.database.as_ref().unwrap();
    assert_eq!(
        (db.address.as_str(), db.port, db.name.as_str()),
        ("127.0.0.1", 1, "odd")
    );
    assert!(written.contains("the schema could not be checked"), "{written}");
    assert!(
        written.contains("guess: no built-in app profile fits"),
        "{written}"
    );
    // Nothing ran, nothing leaked, no escape sequence reached the file or the terminal.
    assert!(!std::path::Path::new(&format!("/tmp/pwned-{}", std::process::id())).exists());
    let leak = [("the odd project's secret".to_owned(), secret.to_owned())];
    for bytes in [written.as_bytes(), &out.stdout, &out.stderr] {
        tb.assert_no_secret_in(&leak, bytes, "init's output");
        assert!(!bytes.contains(&0x1b), "{}", String::from_utf8_lossy(bytes));
    }
    tb.assert_none_in_dir(&leak, &data);
}

#[tokio::test]
async fn init_says_which_columns_are_missing_when_no_app_profile_fits() {
    // A database of its own in the testbed's PostgreSQL with tables no built-in app
    // profile fits: every profile is named with what it misses, and the guess is marked.
    let tb = testbed();
    let pid = std::process::id();
    let dbname = format!("nofit{pid}");
    let role = format!("nofit{pid}");
    let password = format!("nofit-password-{pid}-a81c");
    // Left for the testbed's `down` (which removes the cluster), as fresh_database is.
    psql(
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'; CREATE DATABASE {dbname} OWNER {role};"),
        &[],
    );
    psql(
        &dbname,
        &format!(
            "SET ROLE {role}; CREATE TABLE users (id bigint PRIMARY KEY, email text); CREATE TABLE widgets (id int);"
        ),
        &[],
    );

    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("nofit");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!(
            "DATABASE_URL=postgres://{role}:{password}@127.0.0.1:{}/{dbname}\n",
            tb.str("/postgres/port")
        ),
    )
    .unwrap();
    let project = format!("nofit{pid}");
    let container = format!("{project}_web_1");
    let _remove = compose_labelled(
        &container,
        &[
            format!("com.docker.compose.project={project}"),
            "com.docker.compose.service=web".into(),
            format!("com.docker.compose.project.working_dir={}", dir.display()),
        ],
        &[],
    );
    let socket = tb.host("app3")["docker_socket"].as_str().unwrap().to_owned();
    let data = work.path().join("state");
    let out = init_app3(
        &data,
        work.path(),
        "nofit",
        &socket,
        "nofit.toml",
        &["--project", &project],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(work.path().join("nofit.toml")).unwrap();
    assert!(
        written.contains("guess: no built-in app profile fits"),
        "{written}"
    );
    assert!(!written.contains("could not be checked"), "{written}");
    for profile in ["homechat", "harmonic", "rails-jwt", "crucible"] {
        assert!(
            written.contains(&format!("#   {profile}: ")) && written.contains(" missing ("),
            "{profile}: {written}"
        );
    }
    let leak = [("the nofit password".to_owned(), password.clone())];
    for bytes in [written.as_bytes(), &out.stdout, &out.stderr] {
        tb.assert_no_secret_in(&leak, bytes, "init's output");
    }
    tb.assert_none_in_dir(&leak, &data);
}
