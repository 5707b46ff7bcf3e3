//! The listeners under abuse, over raw TCP: one client holding more idle partial requests than
//! the process has descriptors must not take either port down; partial heads, idle
//! connections and clients that never read are closed by their timeouts; a full listener
//! evicts the longest-idle connection and pauses only when every connection is busy; and the
//! errors hyper answers itself (URI too long, head too large, unparsable) carry the Kratos
//! envelope like every other error.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use gatehouse::app;
use gatehouse::http::conn::Timeouts;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::process::{Process, free_port};
use crate::common::{Setup, TEST_CONFIG, TestApp, TestDb, backend, binary, schemas_yaml};

/// The bound on anything that should happen promptly (generous: a loaded 2-core machine).
const PROMPT: Duration = Duration::from_secs(20);

/// The interval of polling loops that wait for a condition.
const POLL: Duration = Duration::from_millis(20);

/// A partial request head: the blank line that would end it never comes.
const PARTIAL: &[u8] = b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: ";

/// The in-process stack with listener options of the test's choosing.
async fn start(listen: app::Options) -> TestApp {
    start_with(listen, "").await
}

/// With `yaml` added to the test configuration.
async fn start_with(listen: app::Options, yaml: &str) -> TestApp {
    TestApp::start_with(Setup {
        yaml: yaml.into(),
        listen,
        ..Default::default()
    })
    .await
}

fn timeouts(header_ms: u64, idle_ms: u64, write_ms: u64) -> Timeouts {
    Timeouts {
        header: Duration::from_millis(header_ms),
        idle: Duration::from_millis(idle_ms),
        write: Duration::from_millis(write_ms),
    }
}

/// One raw HTTP/1.1 answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}\n{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads one answer from `s`: the head, then `content-length` bytes of body.
async fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let mut answer = Answer {
        status,
        head,
        body: buf[head_end..].to_vec(),
    };
    let len: usize = answer
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while answer.body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.body.extend_from_slice(&chunk[..n]);
    }
    Ok(answer)
}

/// Sends `request` on a new connection and reads the answer, within `PROMPT`.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    tokio::time::timeout(PROMPT, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // The server may answer and close before it has read everything (an oversized head):
        // what it wrote is still readable.
        let _ = s.write_all(request).await;
        read_answer(&mut s).await.expect("an answer")
    })
    .await
    .unwrap_or_else(|_| panic!("no answer from {addr} within {PROMPT:?}"))
}

/// `GET /health/alive` on a new connection that stays open afterwards.
async fn kept_alive_health(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    let a = tokio::time::timeout(PROMPT, read_answer(&mut s))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(a.status, 200);
    s
}

async fn health(addr: SocketAddr) -> Answer {
    exchange(
        addr,
        b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n",
    )
    .await
}

/// `GET /health/alive` that must be answered well within the default 10 s header timeout, so
/// that partial heads timing out cannot be what let it through.
async fn health_under_attack(addr: SocketAddr) -> u16 {
    tokio::time::timeout(Duration::from_secs(5), health(addr))
        .await
        .unwrap_or_else(|_| panic!("{addr} did not answer within 5 s"))
        .status
}

/// Waits until the server closes `s` (EOF or reset), reading and discarding anything sent;
/// returns how long that took, or panics after `bound`.
async fn closed_within(s: &mut TcpStream, bound: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let r = tokio::time::timeout(bound, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "the server kept the connection open for {bound:?}"
    );
    start.elapsed()
}

/// Whether `s` is still open: nothing to read within `wait` (a bounded wait on a condition
/// that must not happen).
async fn still_open(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(wait, s.read(&mut buf)).await.is_err()
}

/// A metric's value from the admin port's Prometheus page.
async fn metric(admin: SocketAddr, series: &str) -> f64 {
    let a = exchange(
        admin,
        b"GET /admin/metrics/prometheus HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(a.status, 200);
    String::from_utf8_lossy(&a.body)
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

fn closed_metric(listener: &str, reason: &str) -> String {
    format!("http_connections_closed_total{{listener=\"{listener}\",reason=\"{reason}\"}}")
}

/// Asserts a raw answer is a Kratos error envelope with `status`.
fn assert_envelope(a: &Answer, status: u16, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.head);
    assert!(
        a.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{what}: no JSON content type in {}",
        a.head
    );
    let body = a.json();
    let e = &body["error"];
    assert_eq!(e["code"], status, "{what}: {body}");
    for field in ["id", "status", "reason", "message"] {
        assert!(e[field].is_string(), "{what}: no {field} in {body}");
    }
}

// ----- error answers -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparsable_and_oversized_requests_get_kratos_envelopes() {
    let server = start(app::Options::default()).await;
    let addr = server.public_addr();
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: gatehouse\r\n{headers}Connection: close\r\n\r\n")
    };

    // Past hyper's own URI limit (65,534 bytes): hyper answers, the envelope is ours.
    let a = exchange(
        addr,
        get(&format!("/{}", "a".repeat(70_000)), "").as_bytes(),
    )
    .await;
    assert_envelope(&a, 414, "70,000-byte URI");
    // Past ours but not hyper's: `handle` answers.
    let a = exchange(
        addr,
        get(&format!("/{}", "a".repeat(40_000)), "").as_bytes(),
    )
    .await;
    assert_envelope(&a, 414, "40,000-byte URI");
    assert!(
        a.json()["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("40001")
    );

    // Head larger than hyper's buffer.
    let big = format!("X-Big: {}\r\n", "b".repeat(150_000));
    let a = exchange(addr, get("/health/alive", &big).as_bytes()).await;
    assert_envelope(&a, 431, "150 KB header");
    // Larger than ours, within hyper's.
    let big = format!("X-Big: {}\r\n", "b".repeat(70_000));
    let a = exchange(addr, get("/health/alive", &big).as_bytes()).await;
    assert_envelope(&a, 431, "70 KB header");
    // More header fields than hyper parses.
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let a = exchange(addr, get("/health/alive", &many).as_bytes()).await;
    assert_envelope(&a, 431, "120 header fields");

    // Unparsable request lines and headers.
    for (raw, what) in [
        (&b"BLAH\r\n\r\n"[..], "no request line"),
        (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", "bad version"),
        (
            b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
            "control byte in the URI",
        ),
        (
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            "header without a colon",
        ),
    ] {
        let a = exchange(addr, raw).await;
        assert_envelope(&a, 400, what);
    }

    // A kept-alive connection whose second request is malformed (HTTP/1.0 this time).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health/alive HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let ok = read_answer(&mut s).await.unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["status"], "ok");
    s.write_all(b"GET /\x7f HTTP/1.0\r\n\r\n").await.unwrap();
    let a = read_answer(&mut s).await.unwrap();
    assert!(a.head.starts_with("HTTP/1.0 400 "), "{}", a.head);
    assert_envelope(&a, 400, "second request on a connection");

    // Ordinary errors are untouched.
    let a = exchange(addr, get("/nope", "").as_bytes()).await;
    assert_envelope(&a, 404, "unknown route");
}

// ----- timeouts -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_request_heads_are_closed_after_the_header_timeout() {
    // Idle connections would wait 60 s: only the header timeout can close these in time.
    let server = start(app::Options {
        timeouts: timeouts(1_000, 60_000, 60_000),
        ..Default::default()
    })
    .await;
    let addr = server.public_addr();

    // A new connection that starts a head and stalls.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(PARTIAL).await.unwrap();
    let took = closed_within(&mut s, PROMPT).await;
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );

    // A connection that says nothing at all owes its first request just the same.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    closed_within(&mut silent, PROMPT).await;

    // A kept-alive connection: one request answered, then a stalled head.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut s).await.unwrap().status, 200);
    s.write_all(PARTIAL).await.unwrap();
    let took = closed_within(&mut s, PROMPT).await;
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );

    assert!(
        metric(
            server.admin_addr(),
            &closed_metric("public", "header_timeout")
        )
        .await
            >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_outlives_the_header_timeout_then_closes() {
    let server = start(app::Options {
        timeouts: timeouts(500, 3_000, 60_000),
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(server.public_addr()).await.unwrap();
    s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut s).await.unwrap().status, 200);
    let idle = Instant::now();
    // Well past the header timeout (and its check interval), the connection is still usable.
    assert!(still_open(&mut s, Duration::from_millis(1_500)).await);
    s.write_all(b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut s).await.unwrap().status, 200);
    let idle_again = Instant::now();
    closed_within(&mut s, PROMPT).await;
    let took = idle_again.elapsed();
    assert!(
        took >= Duration::from_millis(2_500),
        "an idle connection closed after {took:?}, before the idle timeout"
    );
    assert!(idle.elapsed() >= Duration::from_millis(4_000));
    assert!(
        metric(
            server.admin_addr(),
            &closed_metric("public", "idle_timeout")
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let server = start(app::Options {
        timeouts: timeouts(60_000, 60_000, 1_000),
        ..Default::default()
    })
    .await;
    // A small receive window fills at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let s = socket.connect(server.public_addr()).await.unwrap();
    let (_unread, mut w) = s.into_split();
    // Pipelined requests, never reading an answer, until the server gives up on us: then
    // writing fails (the server closed with our requests unread, so the socket is reset).
    let batch = b"GET /schemas HTTP/1.1\r\nHost: gatehouse\r\n\r\n".repeat(100);
    let outcome = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Err(e) = w.write_all(&batch).await {
                return e;
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the server kept writing to a client that does not read"
    );
    // It was the write timeout, not another one.
    let admin = server.admin_addr();
    let deadline = Instant::now() + PROMPT;
    while metric(admin, &closed_metric("public", "write_timeout")).await < 1.0 {
        assert!(Instant::now() < deadline, "no write timeout recorded");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(
        metric(admin, &closed_metric("public", "header_timeout")).await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_connections_are_idle_between_streams_not_reading_a_head() {
    let server = start(app::Options {
        timeouts: timeouts(500, 60_000, 60_000),
        ..Default::default()
    })
    .await;
    let (public, admin) = (server.public_addr(), server.admin_addr());
    // The client pings while idle: bytes arrive with no request in flight, which on HTTP/1
    // would be the start of a head.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .http2_keep_alive_interval(Duration::from_millis(100))
        .http2_keep_alive_while_idle(true)
        .build()
        .unwrap();
    let url = format!("http://{public}/health/alive");
    let r = h2.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    // Past the header timeout and its check interval, the idle HTTP/2 connection is still
    // open.
    let idle = Instant::now();
    while idle.elapsed() < Duration::from_millis(1_500) {
        assert_eq!(
            metric(admin, &closed_metric("public", "header_timeout")).await,
            0.0
        );
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(h2.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(
        metric(admin, "http_connections{listener=\"public\"}").await,
        1.0
    );
    // Head limits hold on HTTP/2 as well, answered with the envelope.
    let r = h2
        .get(&url)
        .header("x-big", "b".repeat(70_000))
        .send()
        .await
        .unwrap();
    crate::common::expect_error(r, 431).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_partial_heads() {
    let server = start(app::Options::default()).await;
    let mut s = TcpStream::connect(server.public_addr()).await.unwrap();
    s.write_all(PARTIAL).await.unwrap();
    // The head is being read (the server has the bytes) before shutdown starts.
    let mut idle = kept_alive_health(server.public_addr()).await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), server.stop()).await;
    assert!(
        stopped.is_ok(),
        "shutdown waited for a request head that never completes"
    );
    closed_within(&mut s, PROMPT).await;
    closed_within(&mut idle, PROMPT).await;
}

// ----- the connection cap -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_evicts_the_longest_idle_connection() {
    let server = start(app::Options {
        max_connections: Some(4),
        ..Default::default()
    })
    .await;
    let (addr, admin) = (server.public_addr(), server.admin_addr());
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(PARTIAL).await.unwrap();
        held.push(s);
    }
    // The listener is full of partial heads. A newcomer is served and the oldest makes room;
    // the newcomer stays open, idle, and the next one evicts the next-oldest partial head
    // (idle longer than the newcomer, whose request just ended).
    let mut first = kept_alive_health(addr).await;
    closed_within(&mut held[0], PROMPT).await;
    let mut second = kept_alive_health(addr).await;
    closed_within(&mut held[1], PROMPT).await;
    assert!(still_open(&mut held[3], Duration::from_millis(200)).await);
    assert!(still_open(&mut first, Duration::from_millis(200)).await);
    assert!(still_open(&mut second, Duration::from_millis(200)).await);
    assert_eq!(
        metric(admin, &closed_metric("public", "evicted")).await,
        2.0
    );
    // The admin listener has its own cap: untouched.
    assert_eq!(metric(admin, &closed_metric("admin", "evicted")).await, 0.0);
}

/// Starts a submission with a body that never completes, and returns once the server is
/// reading that body (hyper answers `100 Continue` when the body is asked for): a request
/// waiting on its client.
async fn slow_upload(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /self-service/login?flow=00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: gatehouse\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let cont = tokio::time::timeout(PROMPT, read_answer(&mut s))
        .await
        .expect("100 Continue in time")
        .unwrap();
    assert_eq!(cont.status, 100);
    s.write_all(b"{").await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_evicts_a_slow_upload_like_an_idle_connection() {
    let server = start(app::Options {
        max_connections: Some(3),
        ..Default::default()
    })
    .await;
    let (addr, admin) = (server.public_addr(), server.admin_addr());
    // Bodies trickling in wait on their clients, not on the server: like idle connections,
    // the oldest makes room for a newcomer. Three fill the cap; the fourth and then a health
    // check are each served at once, and the two oldest uploads are closed.
    let mut uploads = Vec::new();
    for _ in 0..4 {
        uploads.push(slow_upload(addr).await);
    }
    // Promptly: not rescued by a timeout.
    let answer = tokio::time::timeout(Duration::from_secs(5), health(addr))
        .await
        .expect("a newcomer is served at once while uploads trickle in");
    assert_eq!(answer.status, 200);
    for s in &mut uploads[..2] {
        closed_within(s, Duration::from_secs(5)).await;
    }
    assert!(still_open(&mut uploads[3], Duration::from_millis(200)).await);
    assert_eq!(
        metric(admin, &closed_metric("public", "evicted")).await,
        2.0
    );
}

/// A registration web hook that answers after `delay`: a submission then keeps the server
/// busy (not its client) for that long.
async fn slow_hook(delay: Duration) -> (crate::common::receiver::Receiver, String) {
    let rx = crate::common::receiver::Receiver::start().await;
    rx.delay(delay);
    // `function(ctx) {}`
    let yaml = format!(
        "selfservice:\n  flows:\n    registration:\n      after:\n        password:\n          hooks:\n            - hook: web_hook\n              config:\n                url: {}\n                method: POST\n                body: base64://ZnVuY3Rpb24oY3R4KSB7fQ==\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: false\n",
        rx.url("/registered")
    );
    (rx, yaml)
}

/// The path and query of a new API registration flow's action.
async fn registration_action(addr: SocketAddr) -> String {
    let flow = exchange(
        addr,
        b"GET /self-service/registration/api HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n",
    )
    .await
    .json();
    let action = flow["ui"]["action"].as_str().unwrap();
    action[action.find("/self-service").unwrap()..].to_owned()
}

/// Submits a registration to `target` on a connection of its own; the answer comes once the
/// hook answers.
async fn busy_registration(addr: SocketAddr, target: &str, n: usize) -> TcpStream {
    let body = format!(
        r#"{{"method":"password","traits":{{"email":"busy{n}@example.org"}},"password":"a long enough password"}}"#
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST {target} HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_with_every_connection_busy_pauses_until_one_ends() {
    let (rx, yaml) = slow_hook(Duration::from_secs(4)).await;
    let server = start_with(
        app::Options {
            max_connections: Some(3),
            ..Default::default()
        },
        &yaml,
    )
    .await;
    let (addr, admin) = (server.public_addr(), server.admin_addr());
    let mut targets = Vec::new();
    for _ in 0..4 {
        targets.push(registration_action(addr).await);
    }
    // Those connections are gone before the cap is filled.
    let open = "http_connections{listener=\"public\"}";
    let start = Instant::now();
    while metric(admin, open).await > 0.0 {
        assert!(
            start.elapsed() < PROMPT,
            "the flow requests' connections stay open"
        );
        tokio::time::sleep(POLL).await;
    }
    // Three requests the server is working on fill the cap; a fourth connection is still taken
    // (it might have been idle) and its request goes in flight too. Each is in the hook before
    // the next connects, so none can be taken for an idle one.
    let mut busy = Vec::new();
    for (n, target) in targets.iter().enumerate() {
        busy.push(busy_registration(addr, target, n).await);
        rx.wait_for(n + 1, PROMPT).await;
    }
    // Now nothing is accepted: the next client waits in the backlog, unanswered.
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET /health/alive HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        still_open(&mut waiting, Duration::from_secs(1)).await,
        "a connection was accepted while every connection had a request in flight"
    );
    // The hook answers, the registrations end, their connections go idle and make room.
    let answer = tokio::time::timeout(PROMPT, read_answer(&mut waiting))
        .await
        .expect("the waiting client is served once a request ends")
        .unwrap();
    assert_eq!(answer.status, 200);
    // The busy connections were never evicted: each registration completes.
    for s in &mut busy {
        let a = read_answer(s).await.unwrap();
        assert_eq!(a.status, 200, "{}", a.json());
    }
}

// ----- the process under a descriptor-exhaustion attack -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holding_more_connections_than_descriptors_takes_neither_port_down() {
    const LIMIT: u64 = 1024;
    const ATTACK: usize = 1100;
    // This process holds the attack's sockets, more than a default soft limit of 1,024.
    let own = app::raise_fd_limit();
    assert!(
        own >= ATTACK as u64 + 200,
        "this test needs {} descriptors, the hard limit allows {own}",
        ATTACK + 200
    );

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let schemas = dir.path().join("schemas.yml");
    std::fs::write(&schemas, schemas_yaml()).unwrap();
    let (public_port, admin_port) = (free_port(), free_port());
    let log = dir.path().join("serve.log");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {LIMIT} && exec \"$0\" \"$@\""))
        .arg(binary())
        .args(["serve", "--dev", "-c", TEST_CONFIG, "-c"])
        .arg(&schemas);
    if backend() != "sqlite" {
        cmd.arg("--migrate");
    }
    cmd.current_dir(dir.path())
        .env("DSN", &db.dsn)
        .env("SERVE_PUBLIC_PORT", public_port.to_string())
        .env("SERVE_ADMIN_PORT", admin_port.to_string());
    let mut server = Process::spawn("gatehouse serve", cmd, Some(log));
    let public: SocketAddr = ([127, 0, 0, 1], public_port).into();
    let admin: SocketAddr = ([127, 0, 0, 1], admin_port).into();
    server
        .wait_answering(&format!("http://{admin}/health/alive"))
        .await;
    // The limit really applies to the server (the test is not vacuous).
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files.split_whitespace().nth(3) == Some(&LIMIT.to_string()),
        "{open_files}"
    );

    // The attack: partial heads, held, checking both ports as it grows.
    let mut held = Vec::with_capacity(ATTACK);
    for i in 0..ATTACK {
        let mut s = TcpStream::connect(public).await.expect("connect");
        s.write_all(PARTIAL).await.expect("send a partial head");
        held.push(s);
        if i % 100 == 99 {
            assert_eq!(
                health_under_attack(public).await,
                200,
                "public, {} held",
                i + 1
            );
            assert_eq!(
                health_under_attack(admin).await,
                200,
                "admin, {} held",
                i + 1
            );
        }
    }
    // While all of them are held, both ports keep answering.
    for _ in 0..20 {
        assert_eq!(
            health_under_attack(public).await,
            200,
            "public under attack"
        );
        assert_eq!(health_under_attack(admin).await, 200, "admin under attack");
    }
    // The cap did the work, and nothing ran out of descriptors.
    let cap = metric(admin, "http_connection_limit{listener=\"public\"}").await;
    assert!(cap > 100.0 && cap < ATTACK as f64, "public cap {cap}");
    let evicted = metric(admin, &closed_metric("public", "evicted")).await;
    let timed_out = metric(admin, &closed_metric("public", "header_timeout")).await;
    assert!(
        evicted > 0.0 && evicted + timed_out >= ATTACK as f64 - cap,
        "{evicted} evicted"
    );
    assert!(metric(admin, "http_connections{listener=\"public\"}").await <= cap + 16.0);
    assert_eq!(
        metric(admin, "http_accept_errors_total{listener=\"public\"}").await,
        0.0
    );
    assert_eq!(
        metric(admin, "http_accept_errors_total{listener=\"admin\"}").await,
        0.0
    );
    let log = server.log();
    let accept_failed = log.matches("accept failed").count();
    assert!(
        accept_failed <= 2,
        "{accept_failed} accept failures logged:\n{log}"
    );
    drop(held);
}
