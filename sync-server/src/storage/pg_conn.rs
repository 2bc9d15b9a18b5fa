//! A pooled PostgreSQL connection that prepares each statement once and keeps it
//! (`Conn`, and its transactions, `Tx`): a statement sent by its text alone costs two round
//! trips to the database (prepare, then bind and execute) and a parse and plan there every
//! time; a kept one costs one, and PostgreSQL can reuse its plan. `Sql` is what the backend
//! runs statements through, on a connection, in one of its transactions, or in a plain
//! driver transaction (the first connection's migrations: nothing kept).
//!
//! The statements are the backend's own constant texts (a few dozen), so what a connection
//! keeps is bounded; past `KEEP_MAX` it starts again.

use std::collections::HashMap;

use ::postgres::types::ToSql;
use ::postgres::{Client, GenericClient, Row, Statement};

use crate::error::Result;

/// At most this many statements are kept per connection.
const KEEP_MAX: usize = 256;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs SQL: the subset of the driver's calls the backend uses, by statement text.
pub trait Sql {
    /// The statement for `sql`, prepared on this connection.
    fn statement(&mut self, sql: &str) -> Result<Statement>;
    /// The driver's client or transaction underneath.
    fn inner(&mut self) -> &mut dyn GenericClientDyn;

    /// Drops every kept statement (they no longer match the database).
    fn forget_kept(&mut self) {}

    /// Called with a statement's failure: a kept statement the database no longer takes (its
    /// plan's result type changed under a migration by another process, SQLSTATE 0A000; or it
    /// is gone, 26000) is dropped, so the next request prepares it again instead of failing
    /// the same way for as long as the connection lives.
    fn failed(&mut self, e: &::postgres::Error) {
        if e.as_db_error()
            .is_some_and(|d| matches!(d.code().code(), "0A000" | "26000"))
        {
            self.forget_kept();
        }
    }

    /// Runs `sql`, kept or prepared now, through `call`.
    fn run<T>(
        &mut self,
        sql: &str,
        call: impl FnOnce(
            &mut dyn GenericClientDyn,
            &Statement,
        ) -> std::result::Result<T, ::postgres::Error>,
    ) -> Result<T> {
        let s = self.statement(sql)?;
        let r = call(self.inner(), &s);
        if let Err(e) = &r {
            self.failed(e);
        }
        Ok(r?)
    }

    fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>> {
        self.run(sql, |c, s| c.query_dyn(s, params))
    }

    fn query_one(&mut self, sql: &str, params: Params) -> Result<Row> {
        self.run(sql, |c, s| c.query_one_dyn(s, params))
    }

    fn query_opt(&mut self, sql: &str, params: Params) -> Result<Option<Row>> {
        self.run(sql, |c, s| c.query_opt_dyn(s, params))
    }

    fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        self.run(sql, |c, s| c.execute_dyn(s, params))
    }
}

/// The driver's calls on a prepared statement, object-safe (its `GenericClient` is generic).
pub trait GenericClientDyn {
    fn query_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Vec<Row>, ::postgres::Error>;
    fn query_one_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Row, ::postgres::Error>;
    fn query_opt_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Option<Row>, ::postgres::Error>;
    fn execute_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<u64, ::postgres::Error>;
    fn prepare_dyn(&mut self, sql: &str) -> std::result::Result<Statement, ::postgres::Error>;
}

impl<C: GenericClient> GenericClientDyn for C {
    fn query_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Vec<Row>, ::postgres::Error> {
        GenericClient::query(self, s, p)
    }
    fn query_one_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Row, ::postgres::Error> {
        GenericClient::query_one(self, s, p)
    }
    fn query_opt_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<Option<Row>, ::postgres::Error> {
        GenericClient::query_opt(self, s, p)
    }
    fn execute_dyn(
        &mut self,
        s: &Statement,
        p: Params,
    ) -> std::result::Result<u64, ::postgres::Error> {
        GenericClient::execute(self, s, p)
    }
    fn prepare_dyn(&mut self, sql: &str) -> std::result::Result<Statement, ::postgres::Error> {
        GenericClient::prepare(self, sql)
    }
}

/// The statement for `sql`: kept, or prepared through `c` and kept.
fn kept(
    keep: &mut HashMap<String, Statement>,
    c: &mut dyn GenericClientDyn,
    sql: &str,
) -> Result<Statement> {
    if let Some(s) = keep.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare_dyn(sql)?;
    if keep.len() >= KEEP_MAX {
        keep.clear();
    }
    keep.insert(sql.to_string(), s.clone());
    Ok(s)
}

/// A connection of the pool, with the statements it has prepared.
pub struct Conn {
    pub(crate) client: Client,
    keep: HashMap<String, Statement>,
    /// How many connection losses the process had counted when this one was made or last
    /// checked (the backend checks it again before lending it after a later loss).
    pub(crate) checked_at_loss: u64,
    /// Found dead: the pool drops it instead of taking it back.
    pub(crate) broken: bool,
}

impl Conn {
    pub fn new(client: Client, checked_at_loss: u64) -> Self {
        Conn {
            client,
            keep: HashMap::new(),
            checked_at_loss,
            broken: false,
        }
    }

    /// Starts a transaction (read-write, the server's default isolation).
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        Ok(Tx {
            tx: self.client.transaction()?,
            keep: &mut self.keep,
        })
    }
}

impl Sql for Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        kept(&mut self.keep, &mut self.client, sql)
    }
    fn forget_kept(&mut self) {
        self.keep.clear();
    }
    fn inner(&mut self) -> &mut dyn GenericClientDyn {
        &mut self.client
    }
}

/// A transaction on a pooled connection, using and adding to its kept statements; rolled back
/// if dropped uncommitted.
pub struct Tx<'a> {
    tx: ::postgres::Transaction<'a>,
    keep: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

impl Sql for Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        kept(self.keep, &mut self.tx, sql)
    }
    fn forget_kept(&mut self) {
        self.keep.clear();
    }
    fn inner(&mut self) -> &mut dyn GenericClientDyn {
        &mut self.tx
    }
}

/// A driver transaction outside the pool (the first connection's): nothing kept.
impl Sql for ::postgres::Transaction<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        Ok(::postgres::Transaction::prepare(self, sql)?)
    }
    fn inner(&mut self) -> &mut dyn GenericClientDyn {
        self
    }
}
