//! Hand-written PostgreSQL statements that diesel prepares once per connection, as it does the query builder's:
//! the hot paths' writable CTEs (the opening, the part reservation) are written as query fragments with numbered
//! parameters ([`walk_numbered`]) and a static query id ([`prepared_statement!`]).

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::AstPass;

/// Writes SQL whose parameters are numbered (`$1`, `$2`, … each usable several times) as diesel's query builder
/// does, binding each occurrence through `bind(number)`. diesel never caches `sql_query` statements, so PostgreSQL
/// would parse and plan hand-written statements at every call; written as query fragments with a static query id,
/// they are prepared once per connection and keep their plans, like the builder's queries.
pub fn walk_numbered<'b>(
    sql: &'b str,
    out: &mut AstPass<'_, 'b, Pg>,
    mut bind: impl FnMut(usize, &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>,
) -> QueryResult<()> {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let number = rest[at + 1..at + 1 + digits]
            .parse()
            .map_err(|_| diesel::result::Error::QueryBuilderError(format!("a `$` without a number in {sql}").into()))?;
        out.push_sql(&rest[..at]);
        bind(number, out)?;
        rest = &rest[at + 1 + digits..];
    }
    out.push_sql(rest);
    Ok(())
}

pub fn no_parameter(statement: &str, n: usize) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("{statement} has no parameter ${n}").into())
}

/// Makes a query fragment a statement diesel runs and caches by its type: its rows are read by column name.
macro_rules! prepared_statement {
    ($statement:ty, $id:ty) => {
        impl diesel::query_builder::QueryId for $statement {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $statement {
            type SqlType = diesel::sql_types::Untyped;
        }

        impl diesel::RunQueryDsl<diesel::pg::PgConnection> for $statement {}
    };
}

pub(crate) use prepared_statement;
