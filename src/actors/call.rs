//! Calling into a pool: every call has a timeout and its failures are typed.

use std::time::Duration;

use ractor::factory::{FactoryMessage, FactoryRef, JobKey};
use ractor::rpc::CallResult;
use ractor::{Message, RpcReplyPort};

/// How long a request waits for a pool before giving up.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call into a pool produced no domain answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the worker did not answer in time")]
    Timeout,
    /// The worker dropped the reply (it crashed) or the pool is gone.
    #[error("the worker is unavailable")]
    Unavailable,
}

/// Sends one job to a factory and waits for the worker's reply.
pub async fn call<K, M, T>(
    pool: &FactoryRef<K, M>,
    key: K,
    build: impl FnOnce(RpcReplyPort<T>) -> M,
    timeout: Duration,
) -> Result<T, CallError>
where
    K: JobKey,
    M: Message,
    T: Send + 'static,
    FactoryMessage<K, M>: Message,
{
    match pool.call_job(key, build, Some(timeout)).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(CallResult::Timeout) => Err(CallError::Timeout),
        Ok(CallResult::SenderError) | Err(_) => Err(CallError::Unavailable),
    }
}
