//! Query timing for operators: every statement's duration is measured; one slower than
//! [`SLOW`] is logged as a warning, and all of them at `debug` under the target
//! `gatehouse::store::sql` (`GATEHOUSE_LOG=gatehouse::store::sql=debug`). Only the SQL text is
//! logged, never the bound values: those carry token digests, addresses and hashes.

use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// Statements slower than this are logged as warnings.
const SLOW: Duration = Duration::from_millis(250);

/// Installs the timing for every connection opened afterwards (SQLite and PostgreSQL).
pub fn install() {
    // Fails only if the global lock is poisoned; timing is optional, so that is ignored.
    let _ = diesel::connection::set_default_instrumentation(|| Some(Box::new(Timing::default())));
}

#[derive(Default)]
struct Timing {
    started: Option<Instant>,
}

impl Instrumentation for Timing {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let Some(started) = self.started.take() else {
                    return;
                };
                let elapsed = started.elapsed();
                let slow = elapsed >= SLOW;
                if !slow
                    && !tracing::enabled!(target: "gatehouse::store::sql", tracing::Level::DEBUG)
                {
                    return;
                }
                let text = query.to_string();
                let sql = text.split(" -- binds: ").next().unwrap_or_default();
                let ms = elapsed.as_secs_f64() * 1000.0;
                let failed = error.is_some();
                if slow {
                    tracing::warn!(target: "gatehouse::store::sql", ms, failed, sql, "slow query");
                } else {
                    tracing::debug!(target: "gatehouse::store::sql", ms, failed, sql, "query");
                }
            }
            _ => {}
        }
    }
}
