//! Events out: the transactional outbox and what reads it.
//!
//! Every meaningful change writes its event with [`emit_in`], inside the change's own transaction, while it holds
//! the subject's row lock: no change commits without its event, and a change that rolls back leaves none.
//!
//! - [`model`]: the event types ([`EventType`]), subjects ([`Subject`]) and the stored rows.
//! - [`service`]: [`emit_in`]; the sequencer ([`sequence`]) that gives committed events their feed position; and
//!   [`consume`], the step an internal consumer (webhook fan-out, reminders) runs to read the feed past its cursor.
//! - [`repo`]: the queries.

pub mod model;
pub mod repo;
pub mod service;

pub use model::{EventRow, EventType, NewEvent, Subject, SubjectType};
pub use service::{consume, emit_in, sequence, spawn_sequencer};
