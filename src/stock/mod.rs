//! Stock per location: levels (on hand, reserved, reorder settings) and the append-only movement ledger behind
//! them, goods receipts (one at a time or a CSV file), transfers, counts and the reorder report.
//!
//! Where to look:
//! - `http.rs`: the `/stock/...` routes with their request and response types.
//! - `service.rs`: the use cases (receive, import, transfer, adjust, reorder settings, lists, the ledger check) and
//!   the repair movements (`reserve_units`, `release_units`, `consume_units`) that repair use cases compose.
//!   Beside them, the reads the console's warehouse pages need (`level_lines`: levels with their part and location,
//!   filtered and paged in one query; `locations`; `received`) and `set_reorder_in` for its one-time forms.
//! - `repo.rs`: the queries, among them the guarded updates that never let `reserved` exceed `on_hand`, and
//!   `lock_levels`, the one order (location, part) in which every path locks more than one level.
//! - `model.rs`: the level and movement rows and the movement kinds.
//! - `rules.rs`: stock arithmetic (available, the reorder suggestion, what each movement adds to a level).
//!
//! Every change of `on_hand` or `reserved` writes its movement in the same transaction, and every decrement is a
//! guarded update (`… WHERE on_hand - reserved >= q`) with the table's checks (`0 <= reserved <= on_hand`) behind
//! it, so concurrent reservations never oversell and `on_hand` always equals the ledger's sum.

pub mod http;
pub mod model;
pub mod repo;
pub mod rules;
pub mod service;

use actix_web::web;

pub use http::{
    AdjustmentResult, Api, CreateAdjustment, CreateReceipt, CreateTransfer, LedgerCheck, LedgerMismatch, ReceiptLine,
    ReceiptResult, ReorderLine, ReorderReport, ReorderSettings, StockLevel, StockLevelList, StockMovement,
    StockMovementList, TransferResult,
};
pub use model::{LevelRow, MovementKind, MovementRow};
pub use rules::ON_HAND_KINDS;
pub use service::emit_if_low;
pub use service::{
    LEVELS, adjust, check_ledger, check_location, check_part, consume_units, import_receipts, insufficient, receive,
    record, release_units, reserve_units, transfer,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(http::import_receipts_csv)
        .service(http::create_receipt)
        .service(http::create_transfer)
        .service(http::create_adjustment)
        .service(http::set_reorder_settings)
        .service(http::list_stock_levels)
        .service(http::list_stock_movements)
        .service(http::get_reorder_report_csv)
        .service(http::get_reorder_report)
        .service(http::check_stock_ledger);
}
