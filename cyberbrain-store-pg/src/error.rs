//! sqlx and PostgreSQL errors become [`cyberbrain_core::Error`] here, at the crate boundary, with
//! the context of what was being done. Messages never contain the password: sqlx's errors do not
//! carry the URL, and locations are printed through [`crate::PgConfig::location`].
//!
//! * a unique violation (23505) is `Conflict`; call sites that know the value use [`on_unique`]
//!   to name it and say what to do instead, and the rest quote PostgreSQL's detail, which names
//!   the key and value (`Key (name)=(x) already exists.`);
//! * a foreign-key violation (23503) is `Conflict` (call sites check referenced rows first, so
//!   they can answer `NotFound` naming the missing row where the contract asks for it);
//! * a connection that cannot be made or was lost, a pool timeout, a server shutting down or out
//!   of connections, a serialization failure or deadlock: `Unavailable` (retryable);
//! * a NUL character in text, which PostgreSQL cannot store: `InvalidInput`;
//! * everything else is `Backend` with the context and the sqlx error as its source.

use cyberbrain_core::Error;
use sqlx::postgres::PgDatabaseError;

/// Attaches "what was being done" to a sqlx result.
pub(crate) trait PgContext<T> {
    fn context(self, what: &str) -> cyberbrain_core::Result<T>;
}

impl<T> PgContext<T> for Result<T, sqlx::Error> {
    fn context(self, what: &str) -> cyberbrain_core::Result<T> {
        self.map_err(|err| from_sqlx(err, what))
    }
}

/// The SQLSTATE of a database error, if `err` is one.
pub(crate) fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

fn pg_error(err: &sqlx::Error) -> Option<&PgDatabaseError> {
    match err {
        sqlx::Error::Database(db) => db.try_downcast_ref::<PgDatabaseError>(),
        _ => None,
    }
}

/// PostgreSQL's message plus its detail and hint, when it gave them.
fn describe(err: &sqlx::Error) -> String {
    match pg_error(err) {
        Some(pg) => {
            let mut text = pg.message().to_string();
            if let Some(detail) = pg.detail() {
                text.push_str(": ");
                text.push_str(detail.trim_end_matches('.'));
            }
            if let Some(hint) = pg.hint() {
                text.push_str(" (hint: ");
                text.push_str(hint.trim_end_matches('.'));
                text.push(')');
            }
            text
        }
        None => err.to_string(),
    }
}

/// The general mapping; `what` says what was being done ("loading directive 3").
pub(crate) fn from_sqlx(err: sqlx::Error, what: &str) -> Error {
    match &err {
        sqlx::Error::PoolTimedOut => {
            return Error::unavailable(
                "database",
                format!(
                    "{what}: no PostgreSQL connection became available within the acquire \
                     timeout (the server is unreachable, or every pooled connection is busy); \
                     check that the server is running, or raise pool_size / acquire_timeout_ms \
                     in the database URL"
                ),
            );
        }
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            return Error::unavailable(
                "database",
                format!("{what}: the PostgreSQL connection pool is closed ({err})"),
            );
        }
        sqlx::Error::Io(io) => {
            return Error::unavailable(
                "database",
                format!(
                    "{what}: cannot reach the PostgreSQL server ({io}); check that it is \
                     running and that host and port in the database URL are right"
                ),
            );
        }
        sqlx::Error::Tls(tls) => {
            return Error::unavailable(
                "database",
                format!(
                    "{what}: the TLS handshake with the PostgreSQL server failed ({tls}); check \
                     sslmode / sslrootcert in the database URL"
                ),
            );
        }
        sqlx::Error::Configuration(detail) => {
            return Error::invalid(
                "database_url",
                format!(
                    "{what}: the connection settings were refused ({detail}); fix them in the database URL"
                ),
            );
        }
        sqlx::Error::Protocol(message) => {
            return Error::unavailable(
                "database",
                format!("{what}: the connection to PostgreSQL broke ({message}); retry"),
            );
        }
        _ => {}
    }
    let Some(code) = sqlstate(&err) else {
        return Error::backend_with(format!("PostgreSQL: {what}: {err}"), err);
    };
    let detail = describe(&err);
    match code.as_str() {
        "23505" => Error::conflict(format!(
            "{what}: a row with the same value already exists ({detail})"
        )),
        "23503" => Error::conflict(format!(
            "{what}: the change would break a reference between rows ({detail}); check that \
             referenced rows exist and that nothing still uses the row"
        )),
        // Connection exceptions, shutdowns, too many connections, out of resources.
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
            Error::unavailable(
                "database",
                format!(
                    "{what}: PostgreSQL cannot serve the request right now ({detail}); retry shortly"
                ),
            )
        }
        // Serialization failure and deadlock: the same call succeeds when retried.
        "40001" | "40P01" => Error::unavailable(
            "database",
            format!("{what}: PostgreSQL aborted the transaction ({detail}); retry"),
        ),
        // Authentication and a missing database: the URL needs fixing.
        "28P01" | "28000" => Error::unavailable(
            "database",
            format!(
                "{what}: PostgreSQL refused the login ({detail}); check the user and password in \
                 the database URL"
            ),
        ),
        "3D000" => Error::unavailable(
            "database",
            format!(
                "{what}: {detail}; create it (createdb NAME, or CREATE DATABASE) or fix the \
                 database name in the URL"
            ),
        ),
        // Undefined table: the schema has not been migrated.
        "42P01" => Error::unavailable(
            "database",
            format!(
                "{what}: {detail}; the database schema is missing or incomplete: run \
                 `cyberbrain migrate` against this database URL"
            ),
        ),
        // A NUL character in text or JSON: PostgreSQL cannot store it.
        "22021" | "22P05" => Error::invalid(
            "text",
            format!(
                "{what}: a text value contains a character PostgreSQL cannot store ({detail}); \
                 remove NUL (\\u0000) characters"
            ),
        ),
        _ => Error::backend_with(format!("PostgreSQL: {what}: {detail}"), err),
    }
}

/// Whether `err` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    pg_error(err).is_some_and(|pg| pg.code() == "23505" && pg.constraint() == Some(constraint))
}

/// A unique violation of `constraint` becomes `Conflict(conflict())`; anything else is mapped by
/// [`from_sqlx`] with `what`.
pub(crate) fn on_unique(
    err: sqlx::Error,
    constraint: &str,
    what: &str,
    conflict: impl FnOnce() -> String,
) -> Error {
    if is_unique_violation(&err, constraint) {
        Error::conflict(conflict())
    } else {
        from_sqlx(err, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_retryable_with_context() {
        let io = from_sqlx(
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            "pinging",
        );
        assert!(io.is_retryable(), "{io}");
        assert!(io.to_string().contains("pinging"), "{io}");
        let timeout = from_sqlx(sqlx::Error::PoolTimedOut, "claiming jobs");
        assert!(timeout.is_retryable(), "{timeout}");
        assert!(timeout.to_string().contains("pool_size"), "{timeout}");
        let closed = from_sqlx(sqlx::Error::PoolClosed, "listing runs");
        assert!(closed.is_retryable(), "{closed}");
    }

    #[test]
    fn other_errors_are_backend_errors_with_context() {
        let err = from_sqlx(sqlx::Error::RowNotFound, "loading directive 3");
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        assert!(err.to_string().contains("loading directive 3"), "{err}");
    }
}
