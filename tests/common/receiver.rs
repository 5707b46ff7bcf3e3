//! A loopback HTTP endpoint for delivery tests (courier HTTP/SMS channels).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

/// A loopback HTTP endpoint that records requests (head, body) and answers 200.
pub struct HttpReceiver {
    pub url: String,
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    pub async fn start() -> HttpReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let store = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= len {
                                store
                                    .lock()
                                    .unwrap()
                                    .push((head.to_owned(), body[..len].to_owned()));
                                let _ = sock
                                    .write_all(
                                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                                    )
                                    .await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        HttpReceiver {
            url,
            requests,
            task,
        }
    }

    pub async fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self.requests.lock().unwrap().clone();
            if r.len() >= n {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no HTTP request arrived"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
