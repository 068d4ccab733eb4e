//! The catalog's queries, one module per table.

/// `stores`.
pub mod stores {
    use diesel::prelude::*;
    use uuid::Uuid;

    use crate::catalog::model::{StoreChanges, StoreKind, StoreRow};
    use crate::db::Conn;
    use crate::db::schema::stores;
    use crate::db::types::{Id, Ts};
    use crate::error::AppResult;
    use crate::http::pagination::PageRequest;
    use crate::with_conn;

    pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<StoreRow>> {
        Ok(with_conn!(conn, c => stores::table.find(Id(id)).select(StoreRow::as_select()).first(c).optional())?)
    }

    pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<StoreRow>> {
        Ok(
            with_conn!(conn, c => stores::table.filter(stores::code.eq(code)).select(StoreRow::as_select()).first(c)
            .optional())?,
        )
    }

    pub fn insert(conn: &mut Conn<'_>, row: &StoreRow) -> diesel::QueryResult<usize> {
        with_conn!(conn, c => diesel::insert_into(stores::table).values(row).execute(c))
    }

    pub fn update(conn: &mut Conn<'_>, id: Uuid, changes: &StoreChanges, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(stores::table.find(Id(id)))
            .set((changes, stores::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    pub fn set_active(conn: &mut Conn<'_>, id: Uuid, active: bool, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(stores::table.find(Id(id)))
            .set((stores::active.eq(active), stores::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// One page in creation (id) order, filtered by city (exact), kind and active flag.
    pub fn list(
        conn: &mut Conn<'_>,
        page: PageRequest,
        city: Option<&str>,
        kind: Option<StoreKind>,
        active: Option<bool>,
    ) -> AppResult<Vec<StoreRow>> {
        Ok(with_conn!(conn, c => {
            let mut q = stores::table.select(StoreRow::as_select()).order(stores::id).limit(page.fetch()).into_boxed();
            if let Some(after) = page.after {
                q = q.filter(stores::id.gt(Id(after)));
            }
            if let Some(city) = city {
                q = q.filter(stores::city.eq(city.to_owned()));
            }
            if let Some(kind) = kind {
                q = q.filter(stores::kind.eq(kind.as_str()));
            }
            if let Some(active) = active {
                q = q.filter(stores::active.eq(active));
            }
            q.load(c)
        })?)
    }
}

/// `product_series`.
pub mod series {
    use diesel::prelude::*;
    use uuid::Uuid;

    use crate::catalog::model::{SeriesChanges, SeriesRow};
    use crate::db::Conn;
    use crate::db::schema::product_series;
    use crate::db::types::{Id, Ts};
    use crate::error::AppResult;
    use crate::http::pagination::PageRequest;
    use crate::with_conn;

    pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<SeriesRow>> {
        Ok(
            with_conn!(conn, c => product_series::table.find(Id(id)).select(SeriesRow::as_select()).first(c).optional())?,
        )
    }

    pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<SeriesRow>> {
        Ok(
            with_conn!(conn, c => product_series::table.filter(product_series::code.eq(code)).select(SeriesRow::as_select()).first(c)
            .optional())?,
        )
    }

    /// Whether the series is active; `None` when there is no such series.
    pub fn is_active(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<bool>> {
        Ok(with_conn!(conn, c => product_series::table.find(Id(id))
            .select(product_series::active).first(c).optional())?)
    }

    pub fn insert(conn: &mut Conn<'_>, row: &SeriesRow) -> diesel::QueryResult<usize> {
        with_conn!(conn, c => diesel::insert_into(product_series::table).values(row).execute(c))
    }

    pub fn update(conn: &mut Conn<'_>, id: Uuid, changes: &SeriesChanges, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(product_series::table.find(Id(id)))
            .set((changes, product_series::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    pub fn set_active(conn: &mut Conn<'_>, id: Uuid, active: bool, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(product_series::table.find(Id(id)))
            .set((product_series::active.eq(active), product_series::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// One page in creation (id) order, filtered by premium and active flags.
    pub fn list(
        conn: &mut Conn<'_>,
        page: PageRequest,
        premium: Option<bool>,
        active: Option<bool>,
    ) -> AppResult<Vec<SeriesRow>> {
        Ok(with_conn!(conn, c => {
            let mut q = product_series::table.select(SeriesRow::as_select()).order(product_series::id).limit(page.fetch()).into_boxed();
            if let Some(after) = page.after {
                q = q.filter(product_series::id.gt(Id(after)));
            }
            if let Some(premium) = premium {
                q = q.filter(product_series::premium.eq(premium));
            }
            if let Some(active) = active {
                q = q.filter(product_series::active.eq(active));
            }
            q.load(c)
        })?)
    }
}

/// `product_models`.
pub mod models {
    use diesel::prelude::*;
    use uuid::Uuid;

    use crate::catalog::model::{ModelChanges, ModelRow};
    use crate::db::Conn;
    use crate::db::schema::product_models;
    use crate::db::types::{Id, Ts};
    use crate::error::AppResult;
    use crate::http::pagination::PageRequest;
    use crate::with_conn;

    /// The active models of active series, by code, each with whether its series is premium (the desk's select).
    pub fn active_with_premium(conn: &mut Conn<'_>) -> AppResult<Vec<(ModelRow, bool)>> {
        use crate::db::schema::product_series;
        Ok(with_conn!(conn, c => product_models::table
            .inner_join(product_series::table)
            .filter(product_models::active.eq(true))
            .filter(product_series::active.eq(true))
            .order(product_models::code)
            .select((ModelRow::as_select(), product_series::premium))
            .load(c))?)
    }

    pub fn find(conn: &mut Conn<'_>, id: Uuid) -> AppResult<Option<ModelRow>> {
        Ok(with_conn!(conn, c => product_models::table.find(Id(id)).select(ModelRow::as_select()).first(c).optional())?)
    }

    pub fn find_by_code(conn: &mut Conn<'_>, code: &str) -> AppResult<Option<ModelRow>> {
        Ok(
            with_conn!(conn, c => product_models::table.filter(product_models::code.eq(code)).select(ModelRow::as_select()).first(c)
            .optional())?,
        )
    }

    pub fn insert(conn: &mut Conn<'_>, row: &ModelRow) -> diesel::QueryResult<usize> {
        with_conn!(conn, c => diesel::insert_into(product_models::table).values(row).execute(c))
    }

    pub fn update(conn: &mut Conn<'_>, id: Uuid, changes: &ModelChanges, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(product_models::table.find(Id(id)))
            .set((changes, product_models::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    pub fn set_active(conn: &mut Conn<'_>, id: Uuid, active: bool, now: Ts) -> AppResult<()> {
        with_conn!(conn, c => diesel::update(product_models::table.find(Id(id)))
            .set((product_models::active.eq(active), product_models::updated_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// One page in creation (id) order, filtered by series and active flag.
    pub fn list(
        conn: &mut Conn<'_>,
        page: PageRequest,
        series_id: Option<Uuid>,
        active: Option<bool>,
    ) -> AppResult<Vec<ModelRow>> {
        Ok(with_conn!(conn, c => {
            let mut q = product_models::table.select(ModelRow::as_select()).order(product_models::id).limit(page.fetch()).into_boxed();
            if let Some(after) = page.after {
                q = q.filter(product_models::id.gt(Id(after)));
            }
            if let Some(series_id) = series_id {
                q = q.filter(product_models::series_id.eq(Id(series_id)));
            }
            if let Some(active) = active {
                q = q.filter(product_models::active.eq(active));
            }
            q.load(c)
        })?)
    }
}
