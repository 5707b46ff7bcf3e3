//! The benchmark's ceiling for the HTTP layer: the smallest server built like Gatehouse's
//! listeners (hyper 1 through hyper-util's auto builder, HTTP/1.1 and h2c, the same tokio
//! multi-threaded runtime), answering every request with a short JSON body. `bench/run`
//! compares `GET /health/alive` on Gatehouse with this.
//!
//! Usage: `cargo run --release --example hello_hyper -- 127.0.0.1:8080`

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("listening on {}", listener.local_addr()?);
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                let mut r = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}")));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                Ok::<_, Infallible>(r)
            });
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        });
    }
}
