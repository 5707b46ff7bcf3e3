//! The bytes around a request. Gatehouse enforces the request-head limits itself, below
//! hyper's, so an oversized head is answered by `handle` with a Kratos envelope; and `Wire`,
//! the IO wrapper under every connection, reports reads and blocked writes to the
//! connection's watchdog and replaces the few bodiless error answers hyper writes on its own
//! (a head it cannot parse or that exceeds its limits) with an envelope too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::ConnState;
use super::error::ApiError;

/// The longest request URI answered normally (Go's `net/http`, which Kratos runs on, allows
/// about 1 MB of head; CDNs and proxies commonly 8–64 KiB).
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// The largest request head (request line and header fields) answered normally.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// hyper's own ceiling on a request head (its read buffer; HTTP/2's header list). Above ours,
/// so anything between the two reaches `handle` and gets a precise answer.
pub const HYPER_MAX_HEAD_BYTES: usize = 128 * 1024;
/// hyper's limit on header fields in an HTTP/1 request, left at its default: a higher one
/// makes hyper allocate the field table on the heap for every request.
pub const HYPER_MAX_HEADERS: usize = 100;
/// hyper refuses longer URIs itself (`MAX_URI_LEN` in `hyper::proto::h1::role`).
pub const HYPER_MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// Every response carries this; hyper's own error answers do not, which is one of the ways
/// `Wire` tells them apart.
pub const CACHE_CONTROL: &str = "private, no-cache, no-store, must-revalidate";

/// The envelope for a request whose URI or head is over Gatehouse's limits.
pub fn head_error<B>(req: &Request<B>) -> Option<ApiError> {
    let uri = req.uri();
    let uri_len = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.scheme_str().map_or(0, |s| s.len() + 3);
    if uri_len > MAX_URI_BYTES {
        return Some(ApiError::uri_too_long(format!(
            "The request URI has {uri_len} bytes; at most {MAX_URI_BYTES} are accepted."
        )));
    }
    // The request line: method, URI, version, two spaces and CRLF.
    let mut head = req.method().as_str().len() + uri_len + 12;
    for (name, value) in req.headers() {
        head += name.as_str().len() + value.len() + 4;
    }
    (head > MAX_HEAD_BYTES).then(|| {
        ApiError::header_fields_too_large(format!(
            "The request head has {head} bytes; at most {MAX_HEAD_BYTES} are accepted."
        ))
    })
}

/// A connection's socket, as hyper sees it.
pub struct Wire<T> {
    io: T,
    state: Arc<ConnState>,
    /// How much of `PRI` (the HTTP/2 preface) the first bytes matched; `DONE` once decided.
    preface: u8,
    rewrite: Option<Rewrite>,
}

const PREFACE: &[u8] = b"PRI";
const DONE: u8 = u8::MAX;

/// An envelope being written in place of hyper's bodiless error answer.
struct Rewrite {
    bytes: Vec<u8>,
    at: usize,
    /// What hyper asked to write; reported as written once the envelope is out.
    claimed: usize,
}

impl<T> Wire<T> {
    pub fn new(io: T, state: Arc<ConnState>) -> Wire<T> {
        Wire {
            io,
            state,
            preface: 0,
            rewrite: None,
        }
    }

    fn sniff(&mut self, data: &[u8]) {
        for &b in data {
            if b != PREFACE[usize::from(self.preface)] {
                self.preface = DONE;
                return;
            }
            self.preface += 1;
            if usize::from(self.preface) == PREFACE.len() {
                self.state.set_h2();
                self.preface = DONE;
                return;
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Wire<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            if this.preface != DONE {
                this.sniff(&buf.filled()[before..]);
            }
            this.state.bytes_read();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> Wire<T> {
    /// Writes the pending envelope; `Ready(Ok)` once all of it is out.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(rw) = self.rewrite.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while rw.at < rw.bytes.len() {
            let r = Pin::new(&mut self.io).poll_write(cx, &rw.bytes[rw.at..]);
            self.state.write_blocked(r.is_pending());
            match ready!(r)? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => rw.at += n,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Starts replacing `head` if it is hyper's own error answer, which is only ever written
    /// when no request is in flight (hyper did not get as far as calling the service).
    fn intercept(&mut self, head: &[u8], claimed: usize) {
        if self.rewrite.is_none()
            && might_be_error_head(head)
            && self.state.in_flight() == 0
            && let Some(bytes) = envelope_for(head)
        {
            self.rewrite = Some(Rewrite {
                bytes,
                at: 0,
                claimed,
            });
        }
    }

    fn finish_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        ready!(self.poll_rewrite(cx))?;
        let claimed = self.rewrite.take().map_or(0, |rw| rw.claimed);
        Poll::Ready(Ok(claimed))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wire<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.intercept(buf, buf.len());
        if this.rewrite.is_some() {
            return this.finish_rewrite(cx);
        }
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.state.write_blocked(r.is_pending());
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper writes its error answer as one slice (a head without a body).
        if let [head] = bufs {
            this.intercept(head, head.len());
        }
        if this.rewrite.is_some() {
            return this.finish_rewrite(cx);
        }
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.state.write_blocked(r.is_pending());
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_rewrite(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_rewrite(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The cheap test every response write goes through: an HTTP/1 status line with a 4xx code.
#[inline]
fn might_be_error_head(buf: &[u8]) -> bool {
    buf.len() > 16 && buf.starts_with(b"HTTP/1.") && buf[9] == b'4'
}

/// hyper's answer to a request it could not parse, exactly as `hyper::proto::h1::role`
/// writes it (`Server::on_error`, then `encode` with no body):
/// `HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n
/// date: …\r\n\r\n` — status 400, 414 or 431, only `connection`, `content-length: 0` and
/// `date`, nothing after the head. Every response Gatehouse writes has a `cache-control` field
/// (and errors a `content-type` and a body), so none of them matches.
fn hyper_error_head(head: &[u8]) -> Option<(&'static str, u16, Option<&[u8]>)> {
    let text = head.strip_suffix(b"\r\n\r\n")?;
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status = lines.next()?;
    let version = match status.get(..9)? {
        b"HTTP/1.1 " => "HTTP/1.1",
        b"HTTP/1.0 " => "HTTP/1.0",
        _ => return None,
    };
    let code = match status.get(9..13)? {
        b"400 " => 400,
        b"414 " => 414,
        b"431 " => 431,
        _ => return None,
    };
    let (mut empty, mut date) = (false, None);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            empty = value == b"0";
        } else if name.eq_ignore_ascii_case(b"date") {
            date = Some(value);
        } else if !name.eq_ignore_ascii_case(b"connection") {
            return None;
        }
    }
    empty.then_some((version, code, date))
}

/// The full response that replaces hyper's error head, or `None` if `head` is not one.
fn envelope_for(head: &[u8]) -> Option<Vec<u8>> {
    let (version, code, date) = hyper_error_head(head)?;
    let err = match code {
        414 => ApiError::uri_too_long(format!(
            "The request URI is longer than {MAX_URI_BYTES} bytes."
        )),
        431 => ApiError::header_fields_too_large(format!(
            "The request head is larger than {MAX_HEAD_BYTES} bytes or has more than \
             {HYPER_MAX_HEADERS} header fields."
        )),
        _ => ApiError::bad_request(
            "The request is not valid HTTP/1.1: its request line or a header field could not be parsed.",
        ),
    };
    let body = serde_json::to_vec(&err.body()).ok()?;
    let mut out = format!(
        "{version} {} {}\r\ncontent-type: application/json; charset=utf-8\r\n\
         cache-control: {CACHE_CONTROL}\r\nconnection: close\r\ncontent-length: {}\r\n",
        err.status().as_str(),
        err.status().canonical_reason().unwrap_or("Error"),
        body.len(),
    )
    .into_bytes();
    if let Some(date) = date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    // Captured from hyper 1.12 answering a 70,000-byte URI, 120 header fields and `BLAH`.
    const URI_TOO_LONG: &[u8] = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 20:33:11 GMT\r\n\r\n";
    const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 20:33:11 GMT\r\n\r\n";
    const BAD: &[u8] = b"HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 20:33:11 GMT\r\n\r\n";

    fn split(resp: &[u8]) -> (String, Value) {
        let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8(resp[..at].to_vec()).unwrap();
        (head, serde_json::from_slice(&resp[at..]).unwrap())
    }

    #[test]
    fn hyper_error_heads_become_envelopes() {
        for (raw, code, line) in [
            (URI_TOO_LONG, 414, "HTTP/1.1 414 URI Too Long\r\n"),
            (
                TOO_LARGE,
                431,
                "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            ),
            (BAD, 400, "HTTP/1.0 400 Bad Request\r\n"),
        ] {
            assert!(might_be_error_head(raw));
            let resp = envelope_for(raw).expect("recognised");
            let (head, body) = split(&resp);
            assert!(head.starts_with(line), "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains("connection: close\r\n"), "{head}");
            assert!(
                head.contains("date: Sat, 05 Dec 2026 20:33:11 GMT\r\n"),
                "{head}"
            );
            let len = resp.len() - head.len();
            assert!(
                head.contains(&format!("content-length: {len}\r\n")),
                "{head}"
            );
            assert_eq!(body["error"]["code"], code);
            assert!(body["error"]["id"].is_string() && body["error"]["reason"].is_string());
        }
    }

    #[test]
    fn our_own_responses_pass_untouched() {
        let ours: [&[u8]; 5] = [
            // An envelope's head (the body is a separate slice or follows in the same buffer).
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: private, no-cache, no-store, must-revalidate\r\ncontent-length: 120\r\ndate: x\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            // Bodiless, but with our cache-control.
            b"HTTP/1.1 400 Bad Request\r\ncache-control: private\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        ];
        for raw in ours {
            assert!(
                envelope_for(raw).is_none(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(!might_be_error_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n"
        ));
    }

    #[test]
    fn head_limits() {
        let req = |uri: &str, header: usize| {
            Request::get(uri)
                .header("x-pad", "a".repeat(header))
                .body(())
                .unwrap()
        };
        assert!(head_error(&req("/health/alive", 10)).is_none());
        let long = format!("/{}", "a".repeat(MAX_URI_BYTES));
        let e = head_error(&req(&long, 10)).unwrap();
        assert_eq!(e.status(), http::StatusCode::URI_TOO_LONG);
        let e = head_error(&req("/", MAX_HEAD_BYTES)).unwrap();
        assert_eq!(
            e.status(),
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert!(head_error(&req("/", MAX_HEAD_BYTES - 100)).is_none());
        const { assert!(MAX_URI_BYTES < HYPER_MAX_URI_BYTES && MAX_HEAD_BYTES < HYPER_MAX_HEAD_BYTES) };
    }
}
