//! What a hook can end a flow with; a leaf, so the flow model can name it.

use crate::text::UiText;

/// A message a web hook asked to show: where (`#/traits/email`, `#` for the flow) and what.
#[derive(Clone, Debug)]
pub struct HookMessage {
    pub instance_ptr: String,
    pub text: UiText,
}

/// A hook that failed the flow; rendered as a Kratos error envelope naming the hook.
#[derive(Clone, Debug)]
pub struct HookFailure {
    pub status: u16,
    pub reason: String,
    pub message: String,
    /// The hook's configuration path.
    pub hook: String,
}
