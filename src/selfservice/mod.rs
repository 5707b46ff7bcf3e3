//! Self-service: flows (login, registration, …), the methods that complete them, their UI
//! containers, CSRF and return-URL rules. No hyper types; the HTTP layer renders outcomes.

pub mod csrf;
pub mod errors;
pub mod flow;
pub mod hooks;
pub mod otp;
mod otp_courier;
pub mod return_to;
pub mod strategy;
pub mod ui;
