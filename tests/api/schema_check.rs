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

/// A foreign key's referencing columns, as `table(col, …)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct KeyColumns {
    table: String,
    columns: Vec<String>,
}

#[derive(QueryableByName)]
struct PgForeignKey {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    child_cols: String,
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    parent_cols: String,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    cols: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    partial: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    primary: bool,
}

#[derive(QueryableByName)]
struct SqliteForeignKey {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    parent: String,
    #[diesel(sql_type = Text)]
    child_col: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    parent_col: Option<String>,
}

#[derive(QueryableByName)]
struct SqliteIndexColumn {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    idx: String,
    #[diesel(sql_type = Integer)]
    partial: i32,
    #[diesel(sql_type = Text)]
    origin: String,
    /// NULL for an expression or the rowid.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    col: Option<String>,
}

/// Foreign keys as (referencing columns, referenced table and columns), and per table its full (non-partial)
/// indexes' columns in order, with the primary key's columns marked.
struct Keys {
    foreign: Vec<(KeyColumns, KeyColumns)>,
    indexes: BTreeMap<String, Vec<Vec<String>>>,
    primary: BTreeMap<String, Vec<String>>,
}

fn split(cols: &str) -> Vec<String> {
    cols.split(',').map(str::to_owned).collect()
}

fn keys(app: &crate::helpers::TestApp) -> Keys {
    let mut keys = Keys {
        foreign: Vec::new(),
        indexes: BTreeMap::new(),
        primary: BTreeMap::new(),
    };
    app.db
        .read(|conn| {
            match conn {
                depot::db::Conn::Pg(c) => {
                    const COLS: &str = "(SELECT string_agg(a.attname, ',' ORDER BY k.ord) \
                        FROM unnest({keys}) WITH ORDINALITY k(attnum, ord) \
                        JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.attnum)";
                    let cols = |keys: &str, rel: &str| COLS.replace("{keys}", keys).replace("{rel}", rel);
                    let fks: Vec<PgForeignKey> = diesel::sql_query(format!(
                        "SELECT c.conrelid::regclass::text AS child, {} AS child_cols, \
                         c.confrelid::regclass::text AS parent, {} AS parent_cols \
                         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                         WHERE c.contype = 'f' AND n.nspname = 'public'",
                        cols("c.conkey", "c.conrelid"),
                        cols("c.confkey", "c.confrelid"),
                    ))
                    .load(*c)?;
                    for fk in fks {
                        keys.foreign.push((
                            KeyColumns {
                                table: fk.child,
                                columns: split(&fk.child_cols),
                            },
                            KeyColumns {
                                table: fk.parent,
                                columns: split(&fk.parent_cols),
                            },
                        ));
                    }
                    let indexes: Vec<PgIndex> = diesel::sql_query(format!(
                        "SELECT i.indrelid::regclass::text AS tbl, {} AS cols, i.indpred IS NOT NULL AS partial, \
                         i.indisprimary AS primary FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                         JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'",
                        cols("i.indkey::int2[]", "i.indrelid"),
                    ))
                    .load(*c)?;
                    for index in indexes {
                        if index.primary {
                            keys.primary.insert(index.tbl.clone(), split(&index.cols));
                        }
                        if !index.partial {
                            keys.indexes.entry(index.tbl).or_default().push(split(&index.cols));
                        }
                    }
                }
                depot::db::Conn::Sqlite(c) => {
                    let fks: Vec<SqliteForeignKey> = diesel::sql_query(
                        "SELECT m.name AS child, f.id AS id, f.\"table\" AS parent, f.\"from\" AS child_col, \
                         f.\"to\" AS parent_col FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
                         WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
                    )
                    .load(*c)?;
                    let mut grouped: BTreeMap<(String, i32), (KeyColumns, KeyColumns)> = BTreeMap::new();
                    for fk in fks {
                        let entry = grouped.entry((fk.child.clone(), fk.id)).or_insert_with(|| {
                            let key = |table: String| KeyColumns {
                                table,
                                columns: Vec::new(),
                            };
                            (key(fk.child.clone()), key(fk.parent.clone()))
                        });
                        entry.0.columns.push(fk.child_col);
                        entry.1.columns.push(fk.parent_col.unwrap_or_else(|| "id".into()));
                    }
                    keys.foreign.extend(grouped.into_values());
                    let columns: Vec<SqliteIndexColumn> = diesel::sql_query(
                        "SELECT m.name AS tbl, il.name AS idx, il.partial AS partial, il.origin AS origin, \
                         ii.name AS col FROM sqlite_master m JOIN pragma_index_list(m.name) il \
                         JOIN pragma_index_info(il.name) ii WHERE m.type = 'table' ORDER BY m.name, il.name, ii.seqno",
                    )
                    .load(*c)?;
                    let mut by_index: BTreeMap<(String, String), (bool, bool, Vec<String>)> = BTreeMap::new();
                    for col in columns {
                        let entry = by_index.entry((col.tbl, col.idx)).or_insert((
                            col.partial != 0,
                            col.origin == "pk",
                            Vec::new(),
                        ));
                        entry.2.push(col.col.unwrap_or_else(|| "(expression)".into()));
                    }
                    for ((table, _), (partial, primary, cols)) in by_index {
                        if primary {
                            keys.primary.insert(table.clone(), cols.clone());
                        }
                        if !partial {
                            keys.indexes.entry(table).or_default().push(cols);
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("reading keys and indexes: {e}"));
    keys
}

/// A foreign key to columns other than the referenced table's primary key (the loan's `(loaner_id, loaner_hold)`
/// to the loaner's `(id, state)`) is checked in reverse every time those columns change. Without an index that
/// starts with its referencing columns, that check reads the whole referencing table: claiming or freeing a
/// loaner once scanned every loan ever made.
#[test]
fn foreign_keys_to_changing_columns_are_indexed() {
    let app = spawn_app();
    let keys = keys(&app);
    assert!(keys.foreign.len() >= 20, "found {} foreign keys", keys.foreign.len());
    let mut to_changing = 0;
    let mut unindexed = Vec::new();
    for (child, parent) in &keys.foreign {
        // SQLite keeps tables' own primary keys (a rowid alias) out of its index list: `id` stands for them.
        let primary = keys
            .primary
            .get(&parent.table)
            .cloned()
            .unwrap_or_else(|| vec!["id".to_owned()]);
        if parent.columns == primary {
            continue;
        }
        to_changing += 1;
        let covered = keys.indexes.get(&child.table).into_iter().flatten().any(|index| {
            index.len() >= child.columns.len() && {
                let mut leading = index[..child.columns.len()].to_vec();
                let mut wanted = child.columns.clone();
                leading.sort();
                wanted.sort();
                leading == wanted
            }
        });
        if !covered {
            unindexed.push(format!("{}({})", child.table, child.columns.join(", ")));
        }
    }
    assert!(
        to_changing >= 1,
        "no foreign key to changing columns was found; the check would prove nothing"
    );
    assert!(
        unindexed.is_empty(),
        "unindexed foreign keys to changing columns on {:?}: {unindexed:?}",
        test_engine()
    );
}
