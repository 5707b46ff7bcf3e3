//! Self-service flows at the HTTP edge. `request` turns a request into the flow's view of it
//! (`FlowRequest`, the flow id, the decoded body); `respond` turns every outcome an actor hands
//! back into the answer for browsers (redirects), SPAs and native apps (JSON), one function per
//! outcome kind; `csrf` and `urls` are what both sides share. Handlers only wire these to the
//! actors; the errors' envelopes are in `http::error::flow`.

pub mod csrf;
pub mod request;
pub mod respond;
pub mod urls;
