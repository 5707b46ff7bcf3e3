//! Authentication methods. Each method implements the steps of every flow it serves; flows
//! call them and never name HTTP.

pub mod code;
pub mod password;
pub mod profile;
