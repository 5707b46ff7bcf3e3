//! A real SMTP server on loopback for courier tests: speaks enough ESMTP for lettre (EHLO/HELO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), stores what it accepts, can refuse with 550 at RCPT or
//! after DATA, and can be stopped and started again on the same port to simulate downtime.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::TestDb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// 550 to every RCPT TO.
    RejectRcpt,
    /// Takes the DATA, then answers 550.
    RejectData,
    /// Never answers MAIL FROM: a sender stuck mid-dialogue (counted in `stalled`).
    Stall,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

struct Shared {
    received: Mutex<Vec<Received>>,
    mode: Mutex<Mode>,
    stalled: Mutex<usize>,
}

pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SmtpServer {
    /// Listens on 127.0.0.1:`port` (0: any free port).
    pub async fn start(port: u16) -> SmtpServer {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Accept),
            stalled: Mutex::new(0),
        });
        let mut s = SmtpServer {
            port,
            shared,
            task: None,
        };
        s.listen().await;
        s
    }

    async fn listen(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the test SMTP server");
        self.port = listener.local_addr().unwrap().port();
        let shared = self.shared.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every open session.
            let mut sessions = JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                sessions.spawn(async move {
                    let _ = session(sock, shared).await;
                });
            }
        }));
    }

    /// Closes the port and every open session.
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.listen().await;
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// How many sessions got stuck at MAIL FROM in [`Mode::Stall`].
    pub fn stalled(&self) -> usize {
        *self.shared.stalled.lock().unwrap()
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages arrived (panics after `timeout`).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} messages, got {}",
                r.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `smtp://` URI for `courier.smtp.connection_uri` (plain text: the server has no TLS).
    pub fn uri(&self) -> String {
        format!("smtp://127.0.0.1:{}/?disable_starttls=true", self.port)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn addr(arg: &str) -> String {
    let a = arg.split_once(':').map(|(_, a)| a).unwrap_or(arg).trim();
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<').trim_end_matches('>').to_owned()
}

async fn session(sock: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 localhost test ESMTP\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let mode = *shared.mode.lock().unwrap();
        match verb.as_str() {
            "EHLO" => w.write_all(b"250-localhost\r\n250 8BITMIME\r\n").await?,
            "HELO" => w.write_all(b"250 localhost\r\n").await?,
            "MAIL" if mode == Mode::Stall => {
                *shared.stalled.lock().unwrap() += 1;
                // Holds the session until the client goes away or the server stops.
                let mut rest = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut r, &mut rest).await;
                return Ok(());
            }
            "MAIL" => {
                from = addr(&cmd);
                to.clear();
                w.write_all(b"250 OK\r\n").await?
            }
            "RCPT" if mode == Mode::RejectRcpt => {
                w.write_all(b"550 5.1.1 mailbox unavailable\r\n").await?
            }
            "RCPT" => {
                to.push(addr(&cmd));
                w.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                if mode == Mode::RejectData {
                    w.write_all(b"550 5.7.1 message refused\r\n").await?;
                } else {
                    shared.received.lock().unwrap().push(Received {
                        from: from.clone(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                    w.write_all(b"250 OK queued\r\n").await?;
                }
            }
            "RSET" => {
                from.clear();
                to.clear();
                w.write_all(b"250 OK\r\n").await?
            }
            "NOOP" => w.write_all(b"250 OK\r\n").await?,
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => w.write_all(b"502 command not implemented\r\n").await?,
        }
    }
}

/// A header's value from a raw message (first match, unfolded).
pub fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next().unwrap_or(data);
    let mut out: Option<String> = None;
    for l in head.split("\r\n") {
        if let Some(v) = out.as_mut()
            && (l.starts_with(' ') || l.starts_with('\t'))
        {
            v.push_str(l.trim_start());
            continue;
        }
        if out.is_some() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = Some(v.trim().to_owned());
        }
    }
    out
}

fn decode_body(headers: &str, body: &str) -> String {
    let cte = header(headers, "Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    use base64::Engine;
    match cte.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        "quoted-printable" => {
            let mut out = Vec::new();
            let b = body.replace("=\r\n", "");
            let bytes = b.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'='
                    && i + 2 < bytes.len()
                    && let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16)
                {
                    out.push(v);
                    i += 3;
                    continue;
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        _ => body.to_owned(),
    }
}

/// The decoded text parts of a message as `(content type, body)`, one entry for a single-part
/// message, one per part of a multipart one. Line breaks come back as `\n`; bodies lose their final one.
pub fn parts(data: &str) -> Vec<(String, String)> {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let ctype = header(head, "Content-Type").unwrap_or_else(|| "text/plain".into());
    if let Some(b) = ctype
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
    {
        let boundary = format!("--{}", b.trim_matches('"'));
        return body
            .split(boundary.as_str())
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .flat_map(|p| parts(p.trim_start_matches("\r\n")))
            .collect();
    }
    let mime = ctype.split(';').next().unwrap_or("").trim().to_owned();
    let text = decode_body(head, body);
    let text = text.replace("\r\n", "\n");
    vec![(mime, text.trim_end_matches('\n').to_owned())]
}

/// The plaintext body of a mail (the whole message when it has no text/plain part).
pub fn plaintext(mail: &Received) -> String {
    parts(&mail.data)
        .into_iter()
        .find(|(ct, _)| ct.starts_with("text/plain"))
        .map(|(_, body)| body)
        .unwrap_or_else(|| mail.data.clone())
}

/// A second handle on a test database (for a second node on the same data).
pub fn share_db(db: &TestDb) -> TestDb {
    TestDb {
        dsn: db.dsn.clone(),
        _dir: None,
    }
}
