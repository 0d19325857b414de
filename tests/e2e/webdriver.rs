//! A minimal W3C WebDriver client (the few calls the window tests need) and a
//! tauri-driver process per test. tauri-driver starts WebKitWebDriver, which starts the
//! real `breakglass-desktop` binary in the Xvfb display of the test session.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct TauriDriver {
    child: Child,
    port: u16,
    work: tempfile::TempDir,
}

/// Two distinct free ports, outside the ephemeral range ([`crate::testbed::free_port`]).
fn free_ports() -> (u16, u16) {
    let a = crate::testbed::free_port();
    loop {
        let b = crate::testbed::free_port();
        if b != a {
            return (a, b);
        }
    }
}

fn wait_port(port: u16, deadline: Instant) {
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} did not open");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl TauriDriver {
    /// Starts tauri-driver; `envs` reach the app (WebKitWebDriver passes its environment on).
    pub fn start(envs: &[(&str, &Path)]) -> Self {
        let (port, native) = free_ports();
        // The window's working directory, where WebKit saves what the page offers as a
        // download: the test's own, never the repository.
        let work = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("tauri-driver");
        cmd.args(["--port", &port.to_string(), "--native-port", &native.to_string()])
            .current_dir(work.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .expect("tauri-driver not found: run scripts/install-deps");
        let deadline = Instant::now() + Duration::from_secs(20);
        // tauri-driver listens before WebKitWebDriver does: wait for both.
        wait_port(port, deadline);
        wait_port(native, deadline);
        TauriDriver { child, port, work }
    }

    /// Where the window saves downloads (its working directory).
    pub fn downloads(&self) -> &Path {
        self.work.path()
    }

    pub async fn session(&self, application: &Path) -> Session {
        let base = format!("http://127.0.0.1:{}", self.port);
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application}
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Session {
            http,
            url: format!("{base}/session/{id}"),
        }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: tauri-driver then stops WebKitWebDriver too.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub struct Session {
    http: reqwest::Client,
    url: String,
}

#[derive(Clone)]
pub struct Element(String);

impl Session {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits up to 60 s (a cold WebKit on a loaded CI machine is slow to load the
    /// first page) for at least `n` elements matching `css`.
    pub async fn wait_for(&self, css: &str, n: usize) -> Vec<Element> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self.find_all(css).await;
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waited 60 s for {n} × {css:?}, found {}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Scrolls an element into view (for a screenshot), without clicking it.
    pub async fn scroll_into_view(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "arguments[0].scrollIntoView({block: 'center'})",
                "args": [{ ELEMENT_KEY: e.0 }],
            })),
        )
        .await;
    }

    /// An attribute's value, `None` when absent.
    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/attribute/{name}", e.0),
                None,
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    pub async fn type_text(&self, e: &Element, text: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Presses `keys` together, then releases them (WebDriver key codes: "\u{E009}" is
    /// Control), on whatever has the focus: a shortcut as a person types it.
    pub async fn chord(&self, keys: &[&str]) {
        let mut actions: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k}))
            .collect();
        actions.extend(keys.iter().rev().map(|k| json!({"type": "keyUp", "value": k})));
        self.call(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
        let _ = self.http.delete(format!("{}/actions", self.url)).send().await;
    }

    pub async fn clear(&self, e: &Element) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Waits up to `secs` for the text of `css` to contain `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str, secs: u64) -> String {
        self.wait_until(css, secs, |t| t.contains(needle), needle).await
    }

    /// Waits up to `secs` until the text of the elements matching `css` satisfies `ok`.
    /// Name a single container element: its text is read in one call, so a re-render
    /// between reads cannot mix an old row with a new one.
    pub async fn wait_until(&self, css: &str, secs: u64, ok: impl Fn(&str) -> bool, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut text = String::new();
            for e in self.find_all(css).await {
                text.push_str(&self.text(&e).await);
                text.push('\n');
            }
            if ok(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {needle:?} in {css:?}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn text(&self, e: &Element) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{}/text", e.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG screenshot of the window.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.url).send().await;
    }
}
