//! Reading operator-supplied files named by URI, as Kratos's config does for identity schemas,
//! courier templates and Jsonnet bodies: `file://` (absolute or relative), a plain path,
//! `base64://` (standard or URL-safe, padded or not) and `http(s)://`.

use std::path::PathBuf;
use std::time::Duration;

const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum UriError {
    /// A scheme this loader does not read (e.g. `s3://`).
    #[error("unsupported location (expected file://, base64://, http(s):// or a path)")]
    Unsupported,
    #[error("{0}")]
    Read(String),
}

/// The local path a `file://` URI or plain path names, or `None` for other schemes.
pub fn file_path(uri: &str) -> Option<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        // file:///abs and file://rel both occur in Kratos configs; url::Url rejects the latter.
        match url::Url::parse(uri)
            .ok()
            .and_then(|u| u.to_file_path().ok())
        {
            Some(p) if rest.starts_with('/') => Some(p),
            _ => Some(PathBuf::from(rest)),
        }
    } else if uri.contains("://") {
        None
    } else {
        Some(PathBuf::from(uri))
    }
}

/// The contents of `uri` as UTF-8 text. Relative paths resolve against the working directory,
/// as in Kratos.
/// `http` decides which hosts an `http(s)://` location may name (`clients.http`).
pub async fn read(uri: &str, http: &crate::config::HttpClient) -> Result<String, UriError> {
    if let Some(encoded) = uri.strip_prefix("base64://") {
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let encoded = encoded.trim();
        let bytes = [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(encoded).ok())
            .ok_or_else(|| UriError::Read("not valid base64".into()))?;
        return String::from_utf8(bytes).map_err(|e| UriError::Read(format!("not UTF-8: {e}")));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        let client = crate::outbound::Outbound::new(
            http,
            crate::outbound::Options {
                timeout: FETCH_TIMEOUT,
                follow_redirects: true,
                user_agent: false,
            },
        )
        .map_err(UriError::Read)?;
        let resp = client
            .get(uri)
            .map_err(|r| UriError::Read(r.0))?
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| UriError::Read(crate::outbound::explain(&e)))?;
        return resp.text().await.map_err(|e| UriError::Read(e.to_string()));
    }
    let path = file_path(uri).ok_or(UriError::Unsupported)?;
    tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| UriError::Read(format!("{}: {e}", path.display())))
}
