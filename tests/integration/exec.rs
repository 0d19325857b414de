//! One command on many hosts (`breakglass exec --all | --role | --host`): output by host,
//! exit statuses summarised, a non-zero exit when any host failed, and every run in the
//! journal with a digest of its output, never the output.

use std::process::Command;

use crate::testbed::{testbed, variant};

#[tokio::test]
async fn exec_on_every_host_prefixes_output_summarises_and_fails_when_one_host_fails() {
    let v = variant("fanout", |t| t).await;
    let app2_port = testbed().str("/hosts/1/ssh_port");
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_breakglass"))
            .args(args)
            .env("BREAKGLASS_DATA_DIR", v.dir.path().join("state"))
            .output()
            .unwrap()
    };
    // Every host answers: one line each, prefixed by its name.
    let out = cli(&["exec", &v.name, "--all", "--", "echo", "fanout-ok"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    for host in ["app1", "app2", "app3"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(host) && l.ends_with("| fanout-ok")),
            "{host}: {stdout}"
        );
    }
    assert!(stderr.contains("3 host(s): 3 ok, 0 failed"), "{stderr}");

    // app2 fails (the sshd port tells the hosts apart on this one machine): the summary
    // names it, the exit status is non-zero, the others' output is still there.
    let script =
        format!("case \"$SSH_CONNECTION\" in *' {app2_port}') echo broke >&2; exit 7;; esac; echo fine");
    let out = cli(&["exec", &v.name, "--role", "web", "--", "sh", "-c", &script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("app2: exit 7"), "{stderr}");
    assert!(stderr.contains("3 host(s): 2 ok, 1 failed"), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("app2") && l.contains("! broke")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("app1") && l.ends_with("| fine")),
        "{stdout}"
    );

    // A host that does not exist is refused before anything runs.
    let out = cli(&["exec", &v.name, "--host", "app9", "--", "true"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deployment.unknown_host"));

    // The journal: the command and, per host, status and a digest, not the output.
    let entries = v.engine.journal().await.unwrap().entries(None).await.unwrap();
    let finished: Vec<_> = entries.iter().filter(|e| e.kind == "exec.finished").collect();
    assert_eq!(finished.len(), 2, "{entries:?}");
    let hosts = finished[1].body["hosts"].as_array().unwrap();
    let app2 = hosts.iter().find(|h| h["host"] == "app2").unwrap();
    assert_eq!(app2["status"], 7);
    assert_eq!(app2["stderr_sha256"].as_str().unwrap().len(), 64);
    let text = serde_json::to_string(&finished).unwrap();
    assert!(
        !text.contains("fanout-ok") && !text.contains("broke"),
        "output leaked: {text}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.kind == "exec.started" && e.body["command"].as_str().unwrap().contains("fanout-ok")),
        "the command is recorded"
    );
    assert!(v.engine.journal().await.unwrap().verify().await.unwrap().ok);
}
