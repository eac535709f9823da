//! One module per MAS entrypoint. Each transcribes its contract table row by row.

pub mod authorization_grant;
pub mod client_registration;
pub mod compat_login;
pub mod email;
pub mod register;
