//! A real browser for end-to-end tests: Debian's Chromium, driven by playwright-core (npm,
//! pinned in `tests/browser/package-lock.json`) from the Node.js scripts in `tests/browser/`.
//!
//! The npm package comes from `GATEHOUSE_BROWSER_NODE_MODULES` (`scripts/test` installs one) or,
//! run by hand, is installed once into `target/browser-tests`; Chromium is `GATEHOUSE_CHROMIUM`
//! or `/usr/bin/chromium` (`scripts/test` installs Debian's package when it is missing). A
//! script that fails leaves a screenshot of its page in `target/browser-artifacts/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
/// A script that has not finished by then is stuck (a page that never loads, a ceremony
/// nobody answers): it is killed and the test fails with what it printed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn node_modules() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(
        || match std::env::var_os("GATEHOUSE_BROWSER_NODE_MODULES") {
            Some(dir) => PathBuf::from(dir),
            None => super::npm_install(
                Path::new(SCRIPT_DIR),
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-tests"),
            ),
        },
    )
    .clone()
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("GATEHOUSE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium package (scripts/test does) or set GATEHOUSE_CHROMIUM",
        path.display()
    );
    path
}

/// Where scripts leave a screenshot of the page they failed on (`ARTIFACTS`).
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/browser-artifacts");
    dir
}

async fn command(script: &str, env: &[(&str, &str)]) -> tokio::process::Command {
    let modules = tokio::task::spawn_blocking(node_modules).await.unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(Path::new(SCRIPT_DIR).join(script))
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", chromium())
        .env("ARTIFACTS", artifacts())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `tests/browser/<script>` as a conversation: each line it prints that starts with
/// `ask ` is given to `answer`, whose reply goes back as a line on its stdin (a code from a
/// mail the test received); the last line is the JSON it answers with.
pub async fn converse<F, Fut>(script: &str, env: &[(&str, &str)], mut answer: F) -> Value
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut child = command(script, env)
        .await
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node does not start (is Node.js 20+ installed?): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    // Read as it comes, so a chatty script never blocks on a full pipe.
    let err = tokio::spawn(async move {
        let mut err = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await;
        err
    });
    let talk = async {
        let mut last = String::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            match line.strip_prefix("ask ") {
                Some(question) => {
                    let reply = answer(question.to_owned()).await;
                    stdin
                        .write_all(format!("{reply}\n").as_bytes())
                        .await
                        .unwrap();
                }
                None => last = line,
            }
        }
        last
    };
    let last = tokio::time::timeout(SCRIPT_TIMEOUT, talk).await;
    if last.is_err() {
        let _ = child.kill().await;
    }
    let status = child.wait().await.unwrap();
    let err = err.await.unwrap_or_default();
    let Ok(last) = last else {
        panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}:\n{err}");
    };
    assert!(
        status.success(),
        "{script} failed ({status}):\n{last}\n{err}"
    );
    serde_json::from_str(&last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{last}\n{err}"))
}

/// Runs `tests/browser/<script>` with `env` and answers the JSON line it prints.
pub async fn run(script: &str, env: &[(&str, &str)]) -> Value {
    let mut cmd = command(script, env).await;
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("node does not start (is Node.js 20+ installed?): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}
