//! A web hook receiver on loopback: a small hyper server that records every request (method,
//! path, headers, body) and answers as told — a status and body, after a delay — and that can be
//! taken down (its port closed) and brought back on the same port.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body {:?}: {e}", self.body))
    }
}

struct State {
    requests: Vec<Recorded>,
    status: u16,
    body: String,
    delay: Duration,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Answers 200 `{}` until told otherwise.
    pub async fn start() -> Receiver {
        let mut r = Receiver {
            port: 0,
            state: Arc::new(Mutex::new(State {
                requests: Vec::new(),
                status: 200,
                body: "{}".into(),
                delay: Duration::ZERO,
            })),
            task: None,
        };
        r.up().await;
        r
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn answer(&self, status: u16, body: &str) {
        let mut s = self.state.lock().unwrap();
        s.status = status;
        s.body = body.to_owned();
    }

    pub fn delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Closes the port: callers get "connection refused".
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again (on the same port once it had one).
    pub async fn up(&mut self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the receiver");
        self.port = l.local_addr().unwrap().port();
        let state = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    return;
                };
                let state = state.clone();
                // Connections end with the listener task, so "down" really is down.
                conns.spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let state = state.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let (status, answer, delay) = {
                                    let mut s = state.lock().unwrap();
                                    s.requests.push(Recorded {
                                        method: parts.method.to_string(),
                                        path: parts
                                            .uri
                                            .path_and_query()
                                            .map(|p| p.to_string())
                                            .unwrap_or_default(),
                                        headers: parts
                                            .headers
                                            .iter()
                                            .map(|(k, v)| {
                                                (k.to_string(), v.to_str().unwrap_or("").to_owned())
                                            })
                                            .collect(),
                                        body: String::from_utf8_lossy(&body).into_owned(),
                                    });
                                    (s.status, s.body.clone(), s.delay)
                                };
                                tokio::time::sleep(delay).await;
                                let resp = Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(answer)))
                                    .unwrap();
                                Ok::<_, Infallible>(resp)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }));
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} requests, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
