//! The SMTP channel (lettre, rustls). `courier.smtp.connection_uri` is read as Kratos reads it:
//! `smtp://` requires STARTTLS unless `?disable_starttls=true`; `smtps://` is implicit TLS;
//! `?skip_ssl_verify=true` accepts any certificate; `?server_name=` overrides the TLS name;
//! user and password come from the URI's user info.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::config;

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    headers: Vec<(String, String)>,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl SmtpSender {
    /// Builds the transport; errors name the configuration key at fault.
    pub fn from_config(cfg: &config::Smtp, timeout: Duration) -> Result<SmtpSender, String> {
        let raw = cfg
            .connection_uri
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or("courier.smtp.connection_uri is not set")?;
        let uri = url::Url::parse(raw)
            .map_err(|e| format!("courier.smtp.connection_uri is not a valid URI: {e}"))?;
        let implicit_tls = match uri.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "courier.smtp.connection_uri: unsupported scheme {other:?} (use smtp:// or smtps://)"
                ));
            }
        };
        let host = uri
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("courier.smtp.connection_uri has no host")?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let port = uri.port().unwrap_or(if implicit_tls { 465 } else { 25 });
        let flag = |name: &str| {
            uri.query_pairs().any(|(k, v)| {
                k == name && matches!(v.as_ref(), "true" | "1" | "t" | "True" | "TRUE")
            })
        };
        let server_name = uri
            .query_pairs()
            .find(|(k, _)| k == "server_name")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| host.clone());
        let params = || {
            TlsParameters::builder(server_name.clone())
                .dangerous_accept_invalid_certs(flag("skip_ssl_verify"))
                .dangerous_accept_invalid_hostnames(flag("skip_ssl_verify"))
                .build_rustls()
                .map_err(|e| format!("courier.smtp.connection_uri: TLS set-up failed: {e}"))
        };
        let tls = if implicit_tls {
            Tls::Wrapper(params()?)
        } else if flag("disable_starttls") {
            Tls::None
        } else {
            Tls::Required(params()?)
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(if cfg.local_name.is_empty() {
                "localhost".into()
            } else {
                cfg.local_name.clone()
            }));
        if !uri.username().is_empty() {
            b = b.credentials(Credentials::new(
                decode(uri.username()),
                decode(uri.password().unwrap_or("")),
            ));
        }
        let address = cfg
            .from_address
            .parse()
            .map_err(|e| format!("courier.smtp.from_address is not a valid address: {e}"))?;
        let from = Mailbox::new(cfg.from_name.clone().filter(|n| !n.is_empty()), address);
        for name in cfg.headers.keys() {
            HeaderName::new_from_ascii(name.clone()).map_err(|_| {
                format!("courier.smtp.headers: {name:?} is not a valid header name")
            })?;
        }
        Ok(SmtpSender {
            transport: b.build(),
            from,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        html: Option<&str>,
    ) -> Result<(), SendError> {
        let to: Mailbox = to.parse().map_err(|e| {
            SendError::permanent(format!("the recipient is not a valid email address: {e}"))
        })?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        for (k, v) in &self.headers {
            if let Ok(name) = HeaderName::new_from_ascii(k.clone()) {
                b = b.raw_header(HeaderValue::new(name, v.clone()));
            }
        }
        let msg = match html {
            Some(html) => b.multipart(MultiPart::alternative_plain_html(
                body.to_owned(),
                html.to_owned(),
            )),
            None => b.header(ContentType::TEXT_PLAIN).body(body.to_owned()),
        }
        .map_err(|e| SendError::permanent(format!("the message could not be built: {e}")))?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError {
                permanent: e.is_permanent(),
                message: format!("SMTP delivery failed: {e}"),
            }),
        }
    }
}
