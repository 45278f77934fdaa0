//! rusqlite errors become [`cyberbrain_core::Error`] here, at the crate boundary, with the
//! context of what was being done.
//!
//! * a UNIQUE violation is `Conflict`; call sites that know the value use [`on_unique`] to name
//!   it and say what to do instead;
//! * a FOREIGN KEY violation is `Conflict` (call sites check referenced rows first, so they can
//!   answer `NotFound` naming the missing row where the contract asks for it);
//! * a busy or locked database, or one that cannot be opened, read or written, is `Unavailable`
//!   (retryable);
//! * everything else is `Backend` with the context and the SQLite error as its source.

use cyberbrain_core::Error;
use rusqlite::ErrorCode;
use rusqlite::ffi;

/// Attaches "what was being done" to a rusqlite result.
pub(crate) trait SqlContext<T> {
    fn context(self, what: &str) -> cyberbrain_core::Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> cyberbrain_core::Result<T> {
        self.map_err(|err| from_sqlite(err, what))
    }
}

/// The general mapping; `what` says what was being done ("loading directive 3").
pub(crate) fn from_sqlite(err: rusqlite::Error, what: &str) -> Error {
    let rusqlite::Error::SqliteFailure(failure, message) = &err else {
        return Error::backend_with(format!("SQLite: {what}: {err}"), err);
    };
    let detail = message.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Error::unavailable(
            "database",
            format!(
                "{what}: the SQLite database stayed locked by another writer past the busy \
                 timeout ({detail}); retry shortly, or raise busy_timeout_ms in the database URL"
            ),
        ),
        ErrorCode::CannotOpen
        | ErrorCode::NotADatabase
        | ErrorCode::PermissionDenied
        | ErrorCode::ReadOnly
        | ErrorCode::DiskFull
        | ErrorCode::SystemIoFailure
        | ErrorCode::FileLockingProtocolFailed => Error::unavailable(
            "database",
            format!(
                "{what}: {detail}; check that the database file and its directory exist, are \
                 writable and have free space"
            ),
        ),
        ErrorCode::ConstraintViolation => match failure.extended_code {
            _ if is_foreign_key_violation(&err) => Error::conflict(format!(
                "{what}: the change would break a reference between rows ({detail}); check \
                 that referenced rows exist and that nothing still uses the row"
            )),
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Error::conflict(
                format!("{what}: a row with the same value already exists ({detail})"),
            ),
            _ => Error::backend_with(format!("SQLite: {what}: {detail}"), err),
        },
        _ => Error::backend_with(format!("SQLite: {what}: {detail}"), err),
    }
}

/// Whether `err` is a FOREIGN KEY violation. SQLite reports an `ON DELETE RESTRICT` refusal
/// with the trigger extended code, so the message is checked too.
fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(failure, message) => {
            failure.code == ErrorCode::ConstraintViolation
                && (failure.extended_code == ffi::SQLITE_CONSTRAINT_FOREIGNKEY
                    || message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("FOREIGN KEY constraint failed")))
        }
        _ => false,
    }
}

/// Whether `err` is a UNIQUE violation on `column` (`table.column`, as SQLite names it).
pub(crate) fn is_unique_violation(err: &rusqlite::Error, column: &str) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(failure, Some(message)) => {
            failure.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                && message
                    .strip_prefix("UNIQUE constraint failed: ")
                    .is_some_and(|columns| columns.split(", ").any(|c| c == column))
        }
        _ => false,
    }
}

/// A UNIQUE violation on `column` becomes `Conflict(conflict())`; anything else is mapped by
/// [`from_sqlite`] with `what`.
pub(crate) fn on_unique(
    err: rusqlite::Error,
    column: &str,
    what: &str,
    conflict: impl FnOnce() -> String,
) -> Error {
    if is_unique_violation(&err, column) {
        Error::conflict(conflict())
    } else {
        from_sqlite(err, what)
    }
}

/// A blocking task that died (a panic inside a statement callback) — never expected.
pub(crate) fn worker_failed(err: tokio::task::JoinError) -> Error {
    Error::backend_with("SQLite worker task failed", err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(extended_code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), Some(message.to_string()))
    }

    #[test]
    fn unique_violations_are_conflicts_naming_the_column() {
        let err = failure(
            ffi::SQLITE_CONSTRAINT_UNIQUE,
            "UNIQUE constraint failed: directives.name",
        );
        assert!(is_unique_violation(&err, "directives.name"));
        assert!(!is_unique_violation(&err, "directives.id"));
        let mapped = on_unique(err, "directives.name", "creating directive", || {
            "directive name \"x\" is already taken".into()
        });
        assert!(
            matches!(&mapped, Error::Conflict(m) if m.contains("\"x\"")),
            "{mapped}"
        );
        let other = from_sqlite(
            failure(
                ffi::SQLITE_CONSTRAINT_UNIQUE,
                "UNIQUE constraint failed: uploads.sha256",
            ),
            "storing upload",
        );
        assert!(
            matches!(&other, Error::Conflict(m) if m.contains("uploads.sha256")),
            "{other}"
        );
    }

    #[test]
    fn busy_and_unopenable_databases_are_retryable() {
        let busy = from_sqlite(
            failure(ffi::SQLITE_BUSY, "database is locked"),
            "claiming jobs",
        );
        assert!(busy.is_retryable(), "{busy}");
        assert!(busy.to_string().contains("claiming jobs"));
        let cannot_open = from_sqlite(failure(ffi::SQLITE_CANTOPEN, "unable to open"), "opening");
        assert!(cannot_open.is_retryable());
    }

    #[test]
    fn foreign_keys_are_conflicts_and_the_rest_backend_errors() {
        let fk = from_sqlite(
            failure(
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
                "FOREIGN KEY constraint failed",
            ),
            "deleting task 3",
        );
        assert!(matches!(fk, Error::Conflict(_)), "{fk}");
        let check = from_sqlite(
            failure(
                ffi::SQLITE_CONSTRAINT_CHECK,
                "CHECK constraint failed: version >= 1",
            ),
            "updating directive 1",
        );
        assert!(matches!(check, Error::Backend { .. }), "{check}");
        assert!(check.to_string().contains("updating directive 1"));
    }
}
