//! The catalog's use cases. Stores, series and models are written alike (a unique code, audited creation and
//! changes, deactivation kept in history), so each use case is written once over [`Entity`]; the one rule of their
//! own, that a model joins only an active series, is [`Entity::check_new`] / [`Entity::check_changes`] of
//! [`ModelRow`]. Each use case a handler calls opens its one transaction as the caller's key (the key checked on the
//! same connection); creation runs in the transaction the idempotent create opens, and [`insert`] is the step the
//! seed and the benches compose in theirs.

use serde::Serialize;
use uuid::Uuid;

use super::model::{
    Model, ModelChanges, ModelRow, Series, SeriesChanges, SeriesRow, Store, StoreChanges, StoreKind, StoreRow,
};
use super::repo;
use crate::audit;
use crate::auth::{Bearer, Principal};
use crate::db::types::Ts;
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult, OrDuplicate};
use crate::http::pagination::PageRequest;

/// A catalog record, as its row: what the generic use cases need of its table.
pub trait Entity: Clone + Sized {
    /// How the API shows it.
    type Out: Serialize + From<Self>;
    /// What an update may change.
    type Changes: Serialize;
    /// Its name in audit entries and error messages (`store`, `series`, `model`).
    const NAME: &'static str;

    fn id(&self) -> Uuid;
    fn code(&self) -> &str;
    fn is_active(&self) -> bool;
    fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<Self>>;
    fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Self>>;
    fn insert_row(conn: &mut Conn<'_>, row: &Self) -> diesel::QueryResult<usize>;
    fn update_row(conn: &mut Conn<'_>, id: Uuid, changes: &Self::Changes, now: Ts) -> AppResult<()>;
    fn set_active_row(conn: &mut Conn<'_>, id: Uuid, active: bool, now: Ts) -> AppResult<()>;

    /// What a new record must satisfy beyond a free code.
    fn check_new(_conn: &mut Conn<'_>, _row: &Self) -> AppResult<()> {
        Ok(())
    }

    /// What a change must satisfy.
    fn check_changes(_conn: &mut Conn<'_>, _changes: &Self::Changes) -> AppResult<()> {
        Ok(())
    }
}

/// The record, or 404.
fn get_in<E: Entity>(conn: &mut Conn<'_>, id: Uuid) -> AppResult<E> {
    E::find(conn, id)?.ok_or(AppError::NotFound(E::NAME))
}

/// The record as shown, or 404.
pub fn get<E: Entity>(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<E::Out> {
    bearer.read(db, |conn, _| Ok(get_in::<E>(conn, id)?.into()))
}

/// Creates a record for an admin, in the transaction the idempotent create opens.
pub fn create<E: Entity>(conn: &mut Conn<'_>, principal: &Principal, row: &E) -> AppResult<E::Out> {
    principal.require_admin()?;
    insert(conn, row, Some(principal.key_id))
}

/// Creates a record whose code is free, audited as done by `actor`.
pub fn insert<E: Entity>(conn: &mut Conn<'_>, row: &E, actor: Option<Uuid>) -> AppResult<E::Out> {
    let taken = || {
        AppError::conflict(
            "duplicate_code",
            format!("a {} with code {} exists", E::NAME, row.code()),
        )
    };
    if E::find_by_code(conn, row.code())?.is_some() {
        return Err(taken());
    }
    E::check_new(conn, row)?;
    E::insert_row(conn, row).or_duplicate(taken)?;
    let id = row.id();
    let out = E::Out::from(row.clone());
    audit::record(conn, actor, "create", E::NAME, id, &out)?;
    Ok(out)
}

/// One page of records as shown, with the cursor of the next.
pub type Page<E> = (Vec<<E as Entity>::Out>, Option<String>);

fn page_of<E: Entity>(rows: Vec<E>, page: PageRequest) -> Page<E> {
    let (rows, next_cursor) = page.finish(rows, E::id);
    (rows.into_iter().map(E::Out::from).collect(), next_cursor)
}

/// Stores in creation order, filtered by city (exact), kind and active flag.
pub fn list_stores(
    db: &Db,
    bearer: &Bearer,
    page: PageRequest,
    city: Option<&str>,
    kind: Option<StoreKind>,
    active: Option<bool>,
) -> AppResult<Page<StoreRow>> {
    bearer.read(db, |conn, _| {
        Ok(page_of(repo::stores::list(conn, page, city, kind, active)?, page))
    })
}

/// Series in creation order, filtered by premium and active flags.
pub fn list_series(
    db: &Db,
    bearer: &Bearer,
    page: PageRequest,
    premium: Option<bool>,
    active: Option<bool>,
) -> AppResult<Page<SeriesRow>> {
    bearer.read(db, |conn, _| {
        Ok(page_of(repo::series::list(conn, page, premium, active)?, page))
    })
}

/// Models in creation order, filtered by series and active flag.
pub fn list_models(
    db: &Db,
    bearer: &Bearer,
    page: PageRequest,
    series_id: Option<Uuid>,
    active: Option<bool>,
) -> AppResult<Page<ModelRow>> {
    bearer.read(db, |conn, _| {
        Ok(page_of(repo::models::list(conn, page, series_id, active)?, page))
    })
}

/// Changes a record, for admins; the code never changes.
pub fn update<E: Entity>(db: &Db, bearer: &Bearer, id: Uuid, changes: &E::Changes) -> AppResult<E::Out> {
    bearer.write(db, |conn, principal| update_in::<E>(conn, principal, id, changes))
}

/// [`update`] in the caller's transaction.
pub fn update_in<E: Entity>(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    changes: &E::Changes,
) -> AppResult<E::Out> {
    principal.require_admin()?;
    let actor = principal.key_id;
    get_in::<E>(conn, id)?;
    E::check_changes(conn, changes)?;
    E::update_row(conn, id, changes, Ts(crate::now()))?;
    audit::record(conn, Some(actor), "update", E::NAME, id, changes)?;
    Ok(get_in::<E>(conn, id)?.into())
}

/// Deactivates (kept in history) or activates a record again, for admins; idempotent, audited when it changes
/// something.
pub fn set_active<E: Entity>(db: &Db, bearer: &Bearer, id: Uuid, active: bool) -> AppResult<E::Out> {
    bearer.write(db, |conn, principal| set_active_in::<E>(conn, principal, id, active))
}

/// [`set_active`] in the caller's transaction.
pub fn set_active_in<E: Entity>(
    conn: &mut Conn<'_>,
    principal: &Principal,
    id: Uuid,
    active: bool,
) -> AppResult<E::Out> {
    principal.require_admin()?;
    let actor = principal.key_id;
    let row = get_in::<E>(conn, id)?;
    if row.is_active() != active {
        E::set_active_row(conn, id, active, Ts(crate::now()))?;
        let action = if active { "activate" } else { "deactivate" };
        audit::record(
            conn,
            Some(actor),
            action,
            E::NAME,
            id,
            &serde_json::json!({ "active": active }),
        )?;
    }
    Ok(get_in::<E>(conn, id)?.into())
}

/// Implements [`Entity`] for a row whose table has its module in [`repo`], plus any checks of its own.
macro_rules! entity {
    ($row:ty => $out:ty, $changes:ty, $name:literal, $repo:ident { $($checks:item)* }) => {
        impl Entity for $row {
            type Out = $out;
            type Changes = $changes;
            const NAME: &'static str = $name;

            fn id(&self) -> Uuid {
                self.id.0
            }
            fn code(&self) -> &str {
                &self.code
            }
            fn is_active(&self) -> bool {
                self.active
            }
            fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<Self>> {
                repo::$repo::find(conn, id)
            }
            fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<Self>> {
                repo::$repo::find_by_code(conn, code)
            }
            fn insert_row(conn: &mut Conn<'_>, row: &Self) -> diesel::QueryResult<usize> {
                repo::$repo::insert(conn, row)
            }
            fn update_row(conn: &mut Conn<'_>, id: Uuid, changes: &$changes, now: Ts) -> AppResult<()> {
                repo::$repo::update(conn, id, changes, now)
            }
            fn set_active_row(conn: &mut Conn<'_>, id: Uuid, active: bool, now: Ts) -> AppResult<()> {
                repo::$repo::set_active(conn, id, active, now)
            }
            $($checks)*
        }
    };
}

entity!(StoreRow => Store, StoreChanges, "store", stores {});

entity!(SeriesRow => Series, SeriesChanges, "series", series {});

entity!(ModelRow => Model, ModelChanges, "model", models {
    fn check_new(conn: &mut Conn<'_>, row: &Self) -> AppResult<()> {
        check_series(conn, row.series_id.0)
    }
    fn check_changes(conn: &mut Conn<'_>, changes: &ModelChanges) -> AppResult<()> {
        match changes.series_id {
            Some(series_id) => check_series(conn, series_id.0),
            None => Ok(()),
        }
    }
});

/// The series must exist and be active for a model to join it.
fn check_series(conn: &mut Conn<'_>, series_id: Uuid) -> AppResult<()> {
    match repo::series::is_active(conn, series_id)? {
        Some(true) => Ok(()),
        Some(false) => Err(AppError::field("series_id", "the series is deactivated")),
        None => Err(AppError::field("series_id", "no such series")),
    }
}
