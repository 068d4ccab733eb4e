//! Customer reminders by SMS: the `reminders` consumer of the event feed plans messages (ticket opened with its
//! tracking link, quote waiting, ready for pickup on the China Mobile manual's schedule, loaner due tomorrow and
//! overdue, courier on the way), and a sender loop sends what is due through a [`Channel`], outside quiet hours in
//! the store's time zone, to customers who consented, recording each message on the ticket's timeline.
//!
//! - [`model`]: the kinds and states, the stored row, the settings.
//! - [`rules`]: the schedule, quiet hours, the language and the templates: pure functions.
//! - [`channel`]: how a message leaves ([`LogChannel`] by default, [`HttpSmsGateway`]).
//! - [`service`]: [`plan`] (the consumer step), [`send_due`] (one round of sending) and the loop.
//! - [`repo`]: the queries, with the claim that keeps two instances from sending one reminder twice.
//!
//! No HTTP routes: a reminder sent shows on the ticket's timeline (`reminder_sent`).

pub mod channel;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

pub use channel::{Channel, HttpSmsGateway, LogChannel, Sms};
pub use model::{GatewaySettings, Language, ReminderKind, ReminderRow, ReminderSettings, ReminderState};
pub use service::{Round, plan, send_due, send_due_until, spawn_sender};
