//! The catalog: stores and warehouses, product series and product models. Admins write; every key reads.

/// Generates a catalog resource's `set_active` and its `deactivate_*` / `activate_*` endpoints: the three
/// resources deactivate alike (kept in history, audited, idempotent).
macro_rules! activation {
    (
        param: $param:literal, table: $table:ident, entity: $entity:literal, tag: $tag:literal, out: $out:ty,
        deactivate: $deactivate:ident, $dpath:literal, $ddoc:literal,
        activate: $activate:ident, $apath:literal, $adoc:literal $(,)?
    ) => {
        fn set_active(conn: &mut Conn<'_>, id: Uuid, active: bool, actor: Uuid) -> AppResult<$out> {
            let row = get(conn, id)?;
            if row.active != active {
                let now = Ts(crate::now());
                with_conn!(conn, c => diesel::update($table::table.find(Id(id)))
                    .set(($table::active.eq(active), $table::updated_at.eq(now)))
                    .execute(c))?;
                let action = if active { "activate" } else { "deactivate" };
                audit::record(conn, Some(actor), action, $entity, id, &serde_json::json!({ "active": active }))?;
            }
            Ok(get(conn, id)?.into())
        }

        #[doc = $ddoc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($deactivate), params(($param = Uuid, Path)),
            responses((status = 200, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($dpath)]
        pub async fn $deactivate(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
        ) -> AppResult<HttpResponse> {
            let id = path.into_inner();
            let out = web::block(move || {
                bearer.write(&state.db, |conn, principal| {
                    principal.require_admin()?;
                    set_active(conn, id, false, principal.key_id)
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(out))
        }

        #[doc = $adoc]
        #[utoipa::path(
            tag = $tag, operation_id = stringify!($activate), params(($param = Uuid, Path)),
            responses((status = 200, body = $out), WriteErrors),
            security(("bearer" = []))
        )]
        #[post($apath)]
        pub async fn $activate(
            state: web::Data<AppState>,
            bearer: Bearer,
            path: web::Path<Uuid>,
        ) -> AppResult<HttpResponse> {
            let id = path.into_inner();
            let out = web::block(move || {
                bearer.write(&state.db, |conn, principal| {
                    principal.require_admin()?;
                    set_active(conn, id, true, principal.key_id)
                })
            })
            .await??;
            Ok(HttpResponse::Ok().json(out))
        }
    };
}

pub mod models;
pub mod series;
pub mod stores;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    stores::configure(cfg);
    series::configure(cfg);
    models::configure(cfg);
}
