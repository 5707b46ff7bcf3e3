//! Configuration reload: what may change while serving, and the next dependencies when the
//! configuration files change. `actors::config_watch` decides when; this decides what.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{self, Config};
use crate::deps::Deps;

/// Where the configuration comes from: the files in merge order and the environment
/// overrides read at start (the process environment does not change while it runs).
#[derive(Clone, Debug)]
pub struct Source {
    pub files: Vec<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Source {
    /// A digest of the files as they are now, to notice a change without parsing. A file that
    /// cannot be read counts by its error, so its disappearance and return are changes too.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for path in &self.files {
            h.update(path.as_os_str().as_encoded_bytes());
            match std::fs::read(path) {
                Ok(bytes) => {
                    h.update(b"\x00ok\x00");
                    h.update((bytes.len() as u64).to_le_bytes());
                    h.update(&bytes);
                }
                Err(e) => h.update(format!("\x00err\x00{}", e.kind()).as_bytes()),
            }
        }
        h.finalize().into()
    }
}

/// What a reload did.
pub enum Reloaded {
    /// Nothing that can change at run time changed.
    Unchanged,
    /// The next dependencies, to be put in force, and the configuration tree they came from
    /// (tenants are rebuilt on it).
    Next(Box<Deps>, serde_json::Value),
}

/// Reads `source` again and builds the dependencies for it. Keys that need a restart keep
/// their running values (each is logged); any error leaves the running configuration as it is.
pub async fn reload(current: &Deps, source: &Source) -> Result<Reloaded, String> {
    let loaded = config::load(&source.files, &source.env).map_err(|e| e.to_string())?;
    let mut next = loaded.config;
    for key in keep_restart_only(&current.config, &mut next) {
        tracing::warn!(
            key,
            "configuration key changed but takes effect only after a restart; the running value is kept"
        );
    }
    // The running configuration has the built-in pages' defaults applied (`Deps::build`).
    let effective = if current.ui {
        next.clone().with_builtin_ui(&current.public_url)
    } else {
        next.clone()
    };
    if effective == *current.config {
        return Ok(Reloaded::Unchanged);
    }
    // A tenant declaration that is wrong refuses the whole reload, like any other key.
    crate::tenancy::declared(&next, &current.public_url).map_err(|e| e.to_string())?;
    for key in &loaded.unsupported {
        tracing::warn!(key = %key, "configuration key is accepted but its feature is not supported yet");
    }
    let deps = Deps::build(Arc::new(next), current.lasting())
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(Reloaded::Next(Box::new(deps), loaded.raw))
}

/// Puts back, in `next`, the running value of every key that cannot change while serving:
/// what binds the listeners, opens the database, keys cookies, hashes passwords, or builds the
/// courier's channels and the runtime's timers. Returns the keys that had changed.
fn keep_restart_only(running: &Config, next: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($key:literal => $($field:ident).+;)*) => {$(
            if next.$($field).+ != running.$($field).+ {
                next.$($field).+ = running.$($field).+.clone();
                kept.push($key);
            }
        )*};
    }
    keep! {
        "dsn" => dsn;
        "serve" => serve;
        "secrets" => secrets;
        "ciphers" => ciphers;
        "hashers" => hashers;
        "log" => log;
        "tracing" => tracing;
        "database" => database;
        "dev" => dev;
        "watch-courier" => watch_courier;
        "expose-metrics-port" => expose_metrics_port;
        "courier.smtp" => courier.smtp;
        "courier.http" => courier.http;
        "courier.channels" => courier.channels;
        "courier.worker" => courier.worker;
        "courier.delivery_strategy" => courier.delivery_strategy;
    }
    kept
}

/// The configuration's revision as Kratos reports it on `/admin/health/config`: the `revision`
/// key when set, else the SHA-256 (hex) of the configuration in force.
pub fn revision(cfg: &Config) -> String {
    if let Some(r) = cfg.revision.as_deref().filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    // Serialising the typed tree cannot fail: every field is plain data with string keys.
    let bytes = serde_json::to_vec(cfg).unwrap_or_default();
    crate::hash::lower_hex(&Sha256::digest(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_keys_keep_their_running_values() {
        let running = Config::default();
        let mut next = Config {
            dsn: "postgres://elsewhere".into(),
            ..Config::default()
        };
        next.serve.public.port = 1;
        next.session.lifespan = config::Duration::from_secs(60);
        let kept = keep_restart_only(&running, &mut next);
        assert_eq!(kept, ["dsn", "serve"]);
        assert_eq!(next.dsn, running.dsn);
        assert_eq!(next.serve, running.serve);
        // Reloadable keys keep their new value.
        assert_eq!(next.session.lifespan, config::Duration::from_secs(60));
    }

    #[test]
    fn the_revision_key_wins_over_the_digest() {
        let mut cfg = Config::default();
        let digest = revision(&cfg);
        assert_eq!(digest.len(), 64);
        cfg.session.lifespan = config::Duration::from_secs(60);
        assert_ne!(revision(&cfg), digest);
        cfg.revision = Some("v42".into());
        assert_eq!(revision(&cfg), "v42");
    }
}
