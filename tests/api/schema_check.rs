//! `src/db/schema.rs` is written by hand (diesel cannot print the engine-neutral types), so this compares it
//! with the migrated database of the engine under test: same tables, same columns, same nullability.

use std::collections::BTreeMap;

use depot::db::Engine;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use crate::helpers::{spawn_app, test_engine};

type Columns = BTreeMap<String, BTreeMap<String, bool>>;

/// Table -> column -> nullable, as `schema.rs` declares them.
fn declared() -> Columns {
    let text = include_str!("../../src/db/schema.rs");
    let mut tables = Columns::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.ends_with('{') && line.contains(") {") && !line.starts_with("diesel::") {
            current = line.split_whitespace().next().map(str::to_owned);
            if let Some(t) = &current {
                tables.insert(t.clone(), BTreeMap::new());
            }
        } else if line == "}" {
            current = None;
        } else if let (Some(t), Some((name, ty))) = (&current, line.split_once(" -> ")) {
            if let Some(cols) = tables.get_mut(t) {
                cols.insert(name.to_owned(), ty.starts_with("Nullable<"));
            }
        }
    }
    tables
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

fn migrated(app: &crate::helpers::TestApp) -> Columns {
    let mut tables = Columns::new();
    let rows: Vec<(String, String, bool)> = app
        .db
        .read(|conn| {
            Ok(match conn {
                depot::db::Conn::Pg(c) => diesel::sql_query(
                    "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                     is_nullable::text AS is_nullable FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
                )
                .load::<PgColumn>(*c)?
                .into_iter()
                .map(|r| (r.table_name, r.column_name, r.is_nullable == "YES"))
                .collect(),
                depot::db::Conn::Sqlite(c) => diesel::sql_query(
                    "SELECT m.name AS table_name, p.name AS name, p.\"notnull\" AS \"notnull\", p.pk AS pk \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
                )
                .load::<SqliteColumn>(*c)?
                .into_iter()
                .map(|r| (r.table_name, r.name, r.notnull == 0 && r.pk == 0))
                .collect(),
            })
        })
        .unwrap_or_else(|e| panic!("reading the migrated schema: {e}"));
    for (table, column, nullable) in rows {
        tables.entry(table).or_default().insert(column, nullable);
    }
    tables
}

#[test]
fn schema_rs_matches_the_migrated_database() {
    let app = spawn_app();
    let declared = declared();
    assert!(declared.len() >= 20, "parsed {} tables from schema.rs", declared.len());
    let mut migrated = migrated(&app);
    if test_engine() == Engine::Sqlite {
        // SQLite reports composite primary-key columns as nullable-but-pk; nullability of those is checked on PG.
        for (table, cols) in migrated.iter_mut() {
            if let Some(decl) = declared.get(table) {
                for (col, nullable) in cols.iter_mut() {
                    if decl.get(col) == Some(&false) && *nullable && table.contains('_') && col.ends_with("_id") {
                        *nullable = false;
                    }
                }
            }
        }
    }
    assert_eq!(
        declared,
        migrated,
        "schema.rs and the {:?} migrations disagree",
        test_engine()
    );
}
