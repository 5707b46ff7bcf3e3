//! `gatehouse` as a child process, for the tests that run the binary as an operator does: spawn
//! it, wait until it answers (or fail with its log if it exits first), signal it, and kill it
//! when the test lets go of it, so a failing test leaves no server behind.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to start answering (generous: a loaded 2-core machine).
const START: Duration = Duration::from_secs(60);

/// A port that was free a moment ago, for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process; killed when dropped.
pub struct Process {
    name: String,
    child: Child,
    log: Option<PathBuf>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Spawns `cmd` with no input and its output discarded; its standard error goes to `log`
    /// when given (quoted when it fails to start), else wherever `cmd` sends it.
    pub fn spawn(name: &str, mut cmd: Command, log: Option<PathBuf>) -> Process {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if let Some(path) = &log {
            cmd.stderr(std::fs::File::create(path).unwrap());
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to its log so far (empty without one).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Waits until `GET url` answers 200; fails the test if the process exits first.
    pub async fn wait_answering(&mut self, url: &str) {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < START {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited early with {status}: {}", self.name, self.log());
            }
            if let Ok(r) = http.get(url).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not answer {url}: {}", self.name, self.log());
    }

    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM {}", self.name);
    }

    /// Waits (blocking) for the process to exit; kills it and fails the test after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!("{} did not exit within {within:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn stop(mut self, within: Duration) -> ExitStatus {
        self.sigterm();
        self.wait_exit(within)
    }

    /// SIGKILL, as a crash: the process gets no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
