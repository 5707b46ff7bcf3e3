//! Ory's published Python SDK (`ory-kratos-client`, pinned in `tests/sdk/requirements.txt`),
//! whose strict models decode what Gatehouse answers: `tests/sdk/decode.py` walks the flows and
//! the admin API with it.
//!
//! The package comes from `GATEHOUSE_PYTHON_SDK` (a folder `pip install --target` filled;
//! `scripts/test` installs one) or, run by hand, is installed once into `target/python-sdk`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn packages() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("GATEHOUSE_PYTHON_SDK") {
        Some(dir) => PathBuf::from(dir),
        None => install(&Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-sdk")),
    })
    .clone()
}

/// `pip install --target dir -r requirements.txt` once per set of requirements (a copy of the
/// file marks a finished install; a lock keeps concurrent test processes apart).
fn install(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create target/python-sdk");
    let lock = std::fs::File::create(dir.join(".install-lock")).expect("install lock file");
    lock.lock().expect("take the install lock");
    let requirements = Path::new(SDK_DIR).join("requirements.txt");
    let wanted = std::fs::read(&requirements).expect("tests/sdk/requirements.txt");
    let marker = dir.join("installed-requirements.txt");
    let packages = dir.join("packages");
    if std::fs::read(&marker).ok().as_deref() != Some(&wanted[..]) {
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--upgrade", "--target"])
            .arg(&packages)
            .arg("-r")
            .arg(&requirements)
            .output()
            .unwrap_or_else(|e| panic!("python3 does not start: {e}"));
        assert!(
            out.status.success(),
            "pip install into {} failed:\n{}{}",
            packages.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&marker, &wanted).expect("write the install marker");
    }
    packages
}

/// Runs `tests/sdk/<script>` with `args` and answers the JSON line it prints.
pub async fn run(script: &str, args: &[&str]) -> Value {
    let packages = tokio::task::spawn_blocking(packages).await.unwrap();
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(Path::new(SDK_DIR).join(script))
        .args(args)
        .env("PYTHONPATH", &packages)
        .kill_on_drop(true);
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("python3 does not start: {e}"));
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
