// Written by hand from migrations/postgres and migrations/sqlite (diesel print-schema cannot emit the engine-neutral
// UUID and time types); tests/api/schema_check.rs compares it with both migrated databases.

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    stores (id) {
        id -> DbUuid,
        code -> Text,
        name -> Text,
        city -> Text,
        kind -> Text,
        time_zone -> Text,
        active -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    product_series (id) {
        id -> DbUuid,
        code -> Text,
        name -> Text,
        premium -> Bool,
        loaner_deposit_minor -> Nullable<BigInt>,
        active -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    product_models (id) {
        id -> DbUuid,
        code -> Text,
        name -> Text,
        series_id -> DbUuid,
        active -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    courier_partners (id) {
        id -> DbUuid,
        code -> Text,
        name -> Text,
        active -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    api_keys (id) {
        id -> DbUuid,
        prefix -> Text,
        key_hash -> Text,
        role -> Text,
        partner_id -> Nullable<DbUuid>,
        label -> Text,
        created_by -> Nullable<DbUuid>,
        created_at -> DbTime,
        revoked_at -> Nullable<DbTime>,
        last_used_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    api_key_stores (api_key_id, store_id) {
        api_key_id -> DbUuid,
        store_id -> DbUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    bootstrap_events (name) {
        name -> Text,
        happened_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    audit_log (id) {
        id -> DbUuid,
        at -> DbTime,
        api_key_id -> Nullable<DbUuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> DbUuid,
        details -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    idempotency_records (api_key_id, idem_key) {
        api_key_id -> DbUuid,
        idem_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    link_idempotency_records (ticket_id, idem_key) {
        ticket_id -> DbUuid,
        idem_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    loaners (id) {
        id -> DbUuid,
        imei -> Text,
        series_id -> DbUuid,
        model_id -> DbUuid,
        store_id -> DbUuid,
        grade -> Text,
        state -> Text,
        idle_since -> DbTime,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    tickets (id) {
        id -> DbUuid,
        number -> Text,
        store_id -> DbUuid,
        customer_name -> Text,
        customer_phone -> Text,
        device_imei -> Text,
        model_id -> DbUuid,
        purchase_date -> Date,
        channel -> Text,
        reported_fault -> Text,
        accessories -> Text,
        finding_liquid -> Bool,
        finding_drop -> Bool,
        finding_crush -> Bool,
        finding_tampering -> Bool,
        finding_cosmetic -> Nullable<Text>,
        extended_warranty -> Bool,
        screen_plan -> Bool,
        covered_item -> Text,
        fault_kind -> Text,
        certificate -> Text,
        force_majeure -> Bool,
        prior_overrun_days -> Integer,
        warranty_decision -> Nullable<Text>,
        status -> Text,
        promised_at -> Nullable<DbTime>,
        tracking_token_hash -> Nullable<Text>,
        labour_minor -> BigInt,
        rating -> Nullable<Integer>,
        rating_comment -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
        closed_at -> Nullable<DbTime>,
        device_id -> Nullable<DbUuid>,
        customer_id -> Nullable<DbUuid>,
        received_at -> Nullable<DbTime>,
        ready_at -> Nullable<DbTime>,
        remedy -> Nullable<Text>,
        remedy_chosen_at -> Nullable<DbTime>,
        remedy_chosen_by -> Nullable<DbUuid>,
        outcome -> Nullable<Text>,
        refund_minor -> Nullable<BigInt>,
        replacement_device_id -> Nullable<DbUuid>,
        quote_version -> Integer,
        quote_state -> Nullable<Text>,
        rating_works_now -> Nullable<Bool>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    ticket_events (id) {
        id -> DbUuid,
        ticket_id -> DbUuid,
        at -> DbTime,
        api_key_id -> Nullable<DbUuid>,
        kind -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        note -> Nullable<Text>,
        by_customer -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    loans (id) {
        id -> DbUuid,
        ticket_id -> DbUuid,
        loaner_id -> Nullable<DbUuid>,
        store_id -> DbUuid,
        series_id -> DbUuid,
        state -> Text,
        queued_at -> DbTime,
        reserved_at -> Nullable<DbTime>,
        hold_until -> Nullable<DbTime>,
        issued_at -> Nullable<DbTime>,
        due_at -> Nullable<DbTime>,
        returned_at -> Nullable<DbTime>,
        issued_by -> Nullable<DbUuid>,
        returned_by -> Nullable<DbUuid>,
        deposit_minor -> Nullable<BigInt>,
        return_condition -> Nullable<Text>,
        missing_accessories -> Nullable<Text>,
        damage_charge_minor -> Nullable<BigInt>,
        loaner_hold -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    parts (id) {
        id -> DbUuid,
        sku -> Text,
        name -> Text,
        category -> Text,
        labour_minor -> Nullable<BigInt>,
        warranty_months -> Integer,
        active -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    part_compatibility (id) {
        id -> DbUuid,
        part_id -> DbUuid,
        model_id -> Nullable<DbUuid>,
        series_id -> Nullable<DbUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    part_prices (id) {
        id -> DbUuid,
        part_id -> DbUuid,
        price_minor -> BigInt,
        currency -> Text,
        effective_at -> DbTime,
        api_key_id -> Nullable<DbUuid>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    stock_levels (location_id, part_id) {
        location_id -> DbUuid,
        part_id -> DbUuid,
        on_hand -> BigInt,
        reserved -> BigInt,
        reorder_point -> BigInt,
        reorder_qty -> BigInt,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    stock_movements (id) {
        id -> DbUuid,
        location_id -> DbUuid,
        part_id -> DbUuid,
        kind -> Text,
        quantity -> BigInt,
        reference -> Nullable<Text>,
        reason -> Nullable<Text>,
        api_key_id -> Nullable<DbUuid>,
        at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    ticket_parts (id) {
        id -> DbUuid,
        ticket_id -> DbUuid,
        part_id -> DbUuid,
        location_id -> DbUuid,
        quantity -> BigInt,
        state -> Text,
        unit_price_minor -> Nullable<BigInt>,
        covered -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    pickups (id) {
        id -> DbUuid,
        ticket_id -> DbUuid,
        direction -> Text,
        partner_id -> Nullable<DbUuid>,
        address -> Text,
        contact_name -> Text,
        contact_phone -> Text,
        window_start -> Nullable<DbTime>,
        window_end -> Nullable<DbTime>,
        tracking_number -> Nullable<Text>,
        status -> Text,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    pickup_events (id) {
        id -> DbUuid,
        pickup_id -> DbUuid,
        partner_id -> DbUuid,
        partner_event_id -> Text,
        kind -> Text,
        happened_at -> DbTime,
        received_at -> DbTime,
        location -> Nullable<Text>,
        note -> Nullable<Text>,
        body_hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    customers (id) {
        id -> DbUuid,
        phone -> Text,
        name -> Text,
        contact_consent -> Bool,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    devices (id) {
        id -> DbUuid,
        imei -> Text,
        model_id -> DbUuid,
        purchase_date -> Date,
        warranty_starts_on -> Date,
        price_paid_minor -> Nullable<BigInt>,
        seller -> Nullable<Text>,
        invoice_number -> Nullable<Text>,
        state -> Text,
        customer_id -> Nullable<DbUuid>,
        replaces_device_id -> Nullable<DbUuid>,
        credit_correction_days -> Integer,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    device_plans (id) {
        id -> DbUuid,
        device_id -> DbUuid,
        kind -> Text,
        sold_on -> Date,
        price_minor -> BigInt,
        store_id -> DbUuid,
        api_key_id -> Nullable<DbUuid>,
        used_by_ticket_id -> Nullable<DbUuid>,
        used_at -> Nullable<DbTime>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    warranty_policies (id) {
        id -> DbUuid,
        series_id -> DbUuid,
        effective_from -> Date,
        return_days -> Integer,
        exchange_days -> Integer,
        handset_months -> Integer,
        battery_months -> Integer,
        charger_months -> Integer,
        wired_earphones_months -> Integer,
        extended_months -> Integer,
        screen_plan_months -> Integer,
        daily_depreciation_bp -> Integer,
        note -> Nullable<Text>,
        api_key_id -> Nullable<DbUuid>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    events (seq) {
        seq -> BigInt,
        id -> DbUuid,
        event_type -> Text,
        occurred_at -> DbTime,
        subject_type -> Text,
        subject_id -> DbUuid,
        store_id -> Nullable<DbUuid>,
        partner_id -> Nullable<DbUuid>,
        payload -> Text,
        internal -> Nullable<Text>,
        txid -> BigInt,
        position -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    event_consumers (name) {
        name -> Text,
        position -> BigInt,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    event_alerts (alert, subject_id, marker) {
        alert -> Text,
        subject_id -> DbUuid,
        marker -> Text,
        raised_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    webhook_endpoints (id) {
        id -> DbUuid,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Text,
        store_id -> Nullable<DbUuid>,
        partner_id -> Nullable<DbUuid>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<DbTime>,
        failing_since -> Nullable<DbTime>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    reminders (id) {
        id -> DbUuid,
        dedupe_key -> Text,
        ticket_id -> DbUuid,
        subject_id -> DbUuid,
        customer_id -> Nullable<DbUuid>,
        store_id -> DbUuid,
        kind -> Text,
        sequence_no -> Integer,
        event_id -> DbUuid,
        link -> Nullable<Text>,
        due_at -> DbTime,
        state -> Text,
        attempts -> Integer,
        claimed_until -> Nullable<DbTime>,
        claim_token -> Nullable<DbUuid>,
        body -> Nullable<Text>,
        channel -> Nullable<Text>,
        sent_at -> Nullable<DbTime>,
        reason -> Nullable<Text>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    webhook_messages (id) {
        id -> DbUuid,
        endpoint_id -> DbUuid,
        event_id -> Nullable<DbUuid>,
        event_type -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> DbTime,
        claimed_until -> Nullable<DbTime>,
        claim_token -> Nullable<DbUuid>,
        last_status_code -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        created_at -> DbTime,
        delivered_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    webhook_attempts (id) {
        id -> DbUuid,
        message_id -> DbUuid,
        attempted_at -> DbTime,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        response_excerpt -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbUuid, DbTime};

    file_blobs (sha256) {
        sha256 -> Text,
        content_type -> Text,
        size_bytes -> BigInt,
        thumbnail_bytes -> Nullable<BigInt>,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbUuid, DbTime};

    file_attachments (id) {
        id -> DbUuid,
        blob_sha256 -> Text,
        store_id -> DbUuid,
        ticket_id -> Nullable<DbUuid>,
        loan_id -> Nullable<DbUuid>,
        stage -> Text,
        visibility -> Text,
        file_name -> Nullable<Text>,
        uploaded_by -> Nullable<DbUuid>,
        created_at -> DbTime,
        updated_at -> DbTime,
        deleted_at -> Nullable<DbTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    complaints (id) {
        id -> DbUuid,
        store_id -> DbUuid,
        about -> Text,
        ticket_id -> Nullable<DbUuid>,
        loan_id -> Nullable<DbUuid>,
        category -> Text,
        text -> Text,
        contact_preference -> Text,
        channel -> Text,
        state -> Text,
        opened_by -> Nullable<DbUuid>,
        owner_id -> Nullable<DbUuid>,
        opened_at -> DbTime,
        first_reply_due_at -> DbTime,
        first_reply_at -> Nullable<DbTime>,
        acknowledged_at -> Nullable<DbTime>,
        resolved_at -> Nullable<DbTime>,
        closed_at -> Nullable<DbTime>,
        resolution -> Nullable<Text>,
        link_request_key -> Nullable<Text>,
        link_request_hash -> Nullable<Text>,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::DbTime;

    file_link_keys (id) {
        id -> Integer,
        secret -> Text,
        created_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    complaint_events (id) {
        id -> DbUuid,
        complaint_id -> DbUuid,
        at -> DbTime,
        kind -> Text,
        from_state -> Nullable<Text>,
        to_state -> Nullable<Text>,
        actor_id -> Nullable<DbUuid>,
        by_customer -> Bool,
        message -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    complaint_remedies (id) {
        id -> DbUuid,
        complaint_id -> DbUuid,
        kind -> Text,
        amount_minor -> Nullable<BigInt>,
        warranty_days -> Nullable<Integer>,
        note -> Nullable<Text>,
        approved_by -> DbUuid,
        approved_at -> DbTime,
    }
}

diesel::joinable!(product_models -> product_series (series_id));
diesel::joinable!(api_keys -> courier_partners (partner_id));
diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    users (id) {
        id -> DbUuid,
        username -> Text,
        display_name -> Text,
        locale -> Text,
        password_hash -> Text,
        key_id -> DbUuid,
        disabled -> Bool,
        failed_attempts -> Integer,
        locked_until -> Nullable<DbTime>,
        created_at -> DbTime,
        updated_at -> DbTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::db::types::{DbTime, DbUuid};

    sessions (id) {
        id -> DbUuid,
        token_hash -> Text,
        user_id -> DbUuid,
        csrf_secret -> Text,
        created_at -> DbTime,
        last_seen_at -> DbTime,
        expires_at -> DbTime,
    }
}

diesel::joinable!(api_key_stores -> api_keys (api_key_id));
diesel::joinable!(api_key_stores -> stores (store_id));
diesel::joinable!(audit_log -> api_keys (api_key_id));
diesel::joinable!(idempotency_records -> api_keys (api_key_id));
diesel::joinable!(link_idempotency_records -> tickets (ticket_id));
diesel::joinable!(loaners -> product_series (series_id));
diesel::joinable!(loaners -> product_models (model_id));
diesel::joinable!(loaners -> stores (store_id));
diesel::joinable!(tickets -> stores (store_id));
diesel::joinable!(tickets -> product_models (model_id));
diesel::joinable!(ticket_events -> tickets (ticket_id));
diesel::joinable!(ticket_events -> api_keys (api_key_id));
diesel::joinable!(loans -> tickets (ticket_id));
diesel::joinable!(loans -> loaners (loaner_id));
diesel::joinable!(loans -> stores (store_id));
diesel::joinable!(loans -> product_series (series_id));
diesel::joinable!(loans -> api_keys (issued_by));
diesel::joinable!(part_compatibility -> parts (part_id));
diesel::joinable!(part_compatibility -> product_models (model_id));
diesel::joinable!(part_compatibility -> product_series (series_id));
diesel::joinable!(part_prices -> parts (part_id));
diesel::joinable!(part_prices -> api_keys (api_key_id));
diesel::joinable!(stock_levels -> stores (location_id));
diesel::joinable!(stock_levels -> parts (part_id));
diesel::joinable!(stock_movements -> stores (location_id));
diesel::joinable!(stock_movements -> parts (part_id));
diesel::joinable!(stock_movements -> api_keys (api_key_id));
diesel::joinable!(ticket_parts -> tickets (ticket_id));
diesel::joinable!(ticket_parts -> parts (part_id));
diesel::joinable!(ticket_parts -> stores (location_id));
diesel::joinable!(pickups -> tickets (ticket_id));
diesel::joinable!(pickups -> courier_partners (partner_id));
diesel::joinable!(pickup_events -> pickups (pickup_id));
diesel::joinable!(pickup_events -> courier_partners (partner_id));
diesel::joinable!(devices -> product_models (model_id));
diesel::joinable!(devices -> customers (customer_id));
diesel::joinable!(device_plans -> devices (device_id));
diesel::joinable!(device_plans -> stores (store_id));
diesel::joinable!(tickets -> devices (device_id));
diesel::joinable!(tickets -> customers (customer_id));
diesel::joinable!(warranty_policies -> product_series (series_id));
diesel::joinable!(events -> stores (store_id));
diesel::joinable!(events -> courier_partners (partner_id));
diesel::joinable!(webhook_endpoints -> stores (store_id));
diesel::joinable!(webhook_endpoints -> courier_partners (partner_id));
diesel::joinable!(webhook_messages -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_messages (message_id));
diesel::joinable!(file_attachments -> file_blobs (blob_sha256));
diesel::joinable!(file_attachments -> stores (store_id));
diesel::joinable!(file_attachments -> tickets (ticket_id));
diesel::joinable!(file_attachments -> loans (loan_id));
diesel::joinable!(complaints -> stores (store_id));
diesel::joinable!(complaints -> tickets (ticket_id));
diesel::joinable!(complaints -> loans (loan_id));
diesel::joinable!(complaint_events -> complaints (complaint_id));
diesel::joinable!(complaint_events -> api_keys (actor_id));
diesel::joinable!(complaint_remedies -> complaints (complaint_id));
diesel::joinable!(complaint_remedies -> api_keys (approved_by));
diesel::joinable!(users -> api_keys (key_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    stores,
    product_series,
    product_models,
    courier_partners,
    api_keys,
    api_key_stores,
    bootstrap_events,
    audit_log,
    idempotency_records,
    link_idempotency_records,
    loaners,
    counters,
    tickets,
    ticket_events,
    loans,
    parts,
    part_compatibility,
    part_prices,
    stock_levels,
    stock_movements,
    ticket_parts,
    pickups,
    pickup_events,
    customers,
    devices,
    device_plans,
    warranty_policies,
    events,
    event_consumers,
    event_alerts,
    webhook_endpoints,
    webhook_messages,
    webhook_attempts,
    reminders,
    file_blobs,
    file_attachments,
    file_link_keys,
    complaints,
    complaint_events,
    complaint_remedies,
    users,
    sessions,
);
