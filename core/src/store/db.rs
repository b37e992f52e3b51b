//! The one SQL interface the store's queries go through, over either engine: SQLite (the
//! embedded default) or PostgreSQL (a store shared by many processes and machines, `pg.rs`).
//!
//! The queries are written once, in the SQL both engines read (`?N` parameters, `ON CONFLICT`,
//! `RETURNING`, `COUNT(*) FILTER`); for PostgreSQL the parameters are renumbered to `$N`. Values
//! cross as three kinds only, integer, text and NULL, which is all the schema holds, and rows are
//! read into them at once (the store's result sets are small), so no code above this module
//! knows which engine it talks to. Where the engines must differ, in row locks, the query asks
//! [`TxConn::skip_locked`] for the clause.

use super::pg::pg_error;
use crate::error::{Error, ErrorKind, Result};
use std::cell::RefCell;

/// A value as the store's tables hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Text(s.clone())
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Value {
        Value::Int(i.into())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The parameters of a query: `args![a, b, c]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => {
        &[$($crate::store::db::Value::from($v)),*][..]
    };
}
pub(crate) use args;

/// One result row, read.
#[derive(Debug)]
pub struct Row(Vec<Value>);

/// Reading a column as a Rust type.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromValue for u32 {
    fn from_value(v: &Value) -> Option<u32> {
        i64::from_value(v).and_then(|i| u32::try_from(i).ok())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl Row {
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            super::corrupt(format!(
                "column {i} holds {v:?}, not a {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

fn storage(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Storage, format!("{what}: {e}"))
}

/// An open transaction on either engine.
pub enum TxConn<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    /// `RefCell`: the client's calls take `&mut`, the store's queries `&self`.
    Postgres(RefCell<postgres::Transaction<'a>>),
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::Type;
        match self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `?N` parameters as PostgreSQL writes them (`$N`). The store's SQL holds no `?` elsewhere.
pub fn postgres_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn postgres_row(row: &postgres::Row) -> std::result::Result<Row, postgres::Error> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

fn sqlite_row(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Int(v as i64),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Value::Text(String::from_utf8_lossy(t).into_owned())
            }
        });
    }
    Ok(Row(out))
}

impl TxConn<'_> {
    /// The clause that locks the selected rows for this transaction and passes over rows another
    /// worker's transaction holds (PostgreSQL). SQLite needs none: its write transactions run one
    /// at a time (IMMEDIATE).
    pub fn skip_locked(&self, tables: &str) -> String {
        match self {
            TxConn::Sqlite(_) => String::new(),
            TxConn::Postgres(_) => format!(" FOR UPDATE OF {tables} SKIP LOCKED"),
        }
    }

    /// The clause that locks the selected rows, waiting for other workers (PostgreSQL).
    pub fn for_update(&self) -> &'static str {
        match self {
            TxConn::Sqlite(_) => "",
            TxConn::Postgres(_) => " FOR UPDATE",
        }
    }

    /// Run a statement; returns how many rows it changed.
    pub fn execute(&self, what: &str, sql: &str, args: &[Value]) -> Result<u64> {
        match self {
            // Cached: parsing the SQL again on every call was ~12 % of a small send's CPU.
            TxConn::Sqlite(tx) => tx
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(args.iter())))
                .map(|n| n as u64)
                .map_err(|e| storage(what, e)),
            TxConn::Postgres(tx) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                tx.borrow_mut()
                    .execute(postgres_sql(sql).as_str(), &params)
                    .map_err(|e| pg_error(what, &e))
            }
        }
    }

    /// Every row a query returns.
    pub fn query(&self, what: &str, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        match self {
            TxConn::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(sql).map_err(|e| storage(what, e))?;
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        sqlite_row(r, n)
                    })
                    .map_err(|e| storage(what, e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| storage(what, e))
            }
            TxConn::Postgres(tx) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                let rows = tx
                    .borrow_mut()
                    .query(postgres_sql(sql).as_str(), &params)
                    .map_err(|e| pg_error(what, &e))?;
                rows.iter()
                    .map(postgres_row)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| pg_error(what, &e))
            }
        }
    }

    /// The first row a query returns, if any.
    pub fn query_opt(&self, what: &str, sql: &str, args: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(what, sql, args)?.into_iter().next())
    }

    /// The row a query must return.
    pub fn query_one(&self, what: &str, sql: &str, args: &[Value]) -> Result<Row> {
        self.query_opt(what, sql, args)?
            .ok_or_else(|| storage(what, "no row"))
    }

    pub fn commit(self) -> Result<()> {
        match self {
            TxConn::Sqlite(tx) => tx
                .commit()
                .map_err(|e| storage("committing a transaction", e)),
            TxConn::Postgres(tx) => tx
                .into_inner()
                .commit()
                .map_err(|e| pg_error("committing a transaction", &e)),
        }
    }
}
