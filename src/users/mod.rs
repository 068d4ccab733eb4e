//! Staff who sign in to the console, and their sessions.
//!
//! - [`model`]: [`Username`], [`Locale`], passwords ([`hash_password`], [`verify_password`]), the stored rows.
//! - [`rules`]: the lock-out back-off, when a session has ended, the CSRF and `next=` checks, a new password's
//!   length: pure functions.
//! - [`service`]: create a user, sign in and out, and the session check every cookie-authenticated request runs; the
//!   admins' use cases (list, change name, language, role and stores, reset a password, disable and enable), each
//!   in the caller's transaction.
//! - [`repo`]: the queries.
//!
//! A user acts through an API key made with it (`users.key_id`), never handed out: its role and scope are the
//! user's (changing the user's role or stores changes the key's), and wherever the audit log and the timelines
//! record a key as the actor, that key names the user.

pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use model::{Locale, NewUser, SessionUser, UserRow, Username};
pub use service::{SESSION_COOKIE, Session, SessionSettings, SignIn, create_user, session_in, sign_in, sign_out};
