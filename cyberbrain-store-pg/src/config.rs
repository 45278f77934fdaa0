//! Where the database is and how the pool is sized, parsed from a database URL.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgConnectOptions;
use url::Url;

/// How to connect a Postgres store.
///
/// Accepted URLs: `postgres://user:password@host:port/database` (or `postgresql://`), with any
/// connection parameter sqlx understands (`sslmode`, `sslrootcert`, `application_name`, …) plus
/// these, which this crate reads and removes:
///
/// * `pool_size` — connections in the pool, 1–100 (default 5);
/// * `acquire_timeout_ms` — how long a call waits for a connection, including connecting, before
///   it fails as `Unavailable` (default 5000);
/// * `schema` — put every table in this schema (created by `migrate` when missing) instead of the
///   database's default; the search path becomes `schema, public`, so the `vector` type installed
///   in `public` still resolves. Lowercase letters, digits and `_`.
///
/// `Debug` and [`PgConfig::location`] never show the password.
#[derive(Clone)]
pub struct PgConfig {
    /// What sqlx connects with (host, user, password, TLS, search path, …).
    pub connect: PgConnectOptions,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a call waits for a pooled connection (and for connecting one).
    pub acquire_timeout: Duration,
    /// The schema holding every table, when not the database's default.
    pub schema: Option<String>,
}

impl PgConfig {
    pub const DEFAULT_POOL_SIZE: u32 = 5;
    pub const MAX_POOL_SIZE: u32 = 100;
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Parses a `postgres://` URL; errors name `database_url`, the rule and a fix, and never
    /// repeat the password.
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if !crate::handles_url(url) {
            return Err(invalid(format!(
                "{:?} is not a PostgreSQL URL; use postgres://user:password@host:5432/database",
                redact(url)
            )));
        }
        let mut parsed = Url::parse(url).map_err(|e| {
            invalid(format!(
                "{:?} is not a valid URL ({e}); use postgres://user:password@host:5432/database \
                 and percent-encode special characters in the password",
                redact(url)
            ))
        })?;
        let mut pool_size = Self::DEFAULT_POOL_SIZE;
        let mut acquire_timeout = Self::DEFAULT_ACQUIRE_TIMEOUT;
        let mut schema = None;
        let mut passthrough = Vec::new();
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "pool_size" => {
                    pool_size = value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=Self::MAX_POOL_SIZE).contains(n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "pool_size={value:?} must be a whole number from 1 to {}",
                                Self::MAX_POOL_SIZE
                            ))
                        })?;
                }
                "acquire_timeout_ms" => {
                    let millis = value
                        .parse::<u64>()
                        .ok()
                        .filter(|m| *m > 0)
                        .ok_or_else(|| {
                            invalid(format!(
                                "acquire_timeout_ms={value:?} must be a positive whole number of \
                             milliseconds"
                            ))
                        })?;
                    acquire_timeout = Duration::from_millis(millis);
                }
                "schema" => schema = Some(check_schema(&value)?),
                _ => passthrough.push((key.into_owned(), value.into_owned())),
            }
        }
        if passthrough.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(passthrough);
        }
        let mut connect = PgConnectOptions::from_str(parsed.as_str()).map_err(|e| {
            invalid(format!(
                "{:?} was refused: {e}; see the connection parameters sqlx accepts \
                 (sslmode, sslrootcert, application_name, options, …)",
                redact(url)
            ))
        })?;
        if connect.get_application_name().is_none() {
            connect = connect.application_name("cyberbrain");
        }
        if let Some(schema) = &schema {
            connect = connect.options([("search_path", format!("{schema},public"))]);
        }
        Ok(Self {
            connect,
            pool_size,
            acquire_timeout,
            schema,
        })
    }

    pub fn with_pool_size(mut self, pool_size: u32) -> Self {
        self.pool_size = pool_size.clamp(1, Self::MAX_POOL_SIZE);
        self
    }

    pub fn with_acquire_timeout(mut self, acquire_timeout: Duration) -> Self {
        self.acquire_timeout = acquire_timeout;
        self
    }

    /// Where the data lives, for `doctor` and logs: `postgres://user@host:port/database`, plus
    /// the schema when one is set. No password, no other parameters.
    pub fn location(&self) -> String {
        let host = match self.connect.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => self.connect.get_host().to_string(),
        };
        let mut location = format!(
            "postgres://{}@{}:{}/{}",
            self.connect.get_username(),
            host,
            self.connect.get_port(),
            self.connect.get_database().unwrap_or("")
        );
        if let Some(schema) = &self.schema {
            location.push_str(&format!(" (schema {schema})"));
        }
        location
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("location", &self.location())
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("schema", &self.schema)
            .finish()
    }
}

/// Schema names are restricted to what needs no quoting, so they can be spliced into DDL and the
/// search path safely.
fn check_schema(value: &str) -> Result<String> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && !value.starts_with("pg_");
    if valid {
        Ok(value.to_string())
    } else {
        Err(invalid(format!(
            "schema={value:?} must be 1-63 lowercase letters, digits or underscores, not start \
             with a digit or \"pg_\"; for example schema=cyberbrain"
        )))
    }
}

/// The URL with any password replaced, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let secret = k.contains("password");
                    (
                        k.into_owned(),
                        if secret { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparseable: keep only the scheme and host-ish part before any `@`.
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("postgres://***@{host}"),
            None => url.to_string(),
        },
    }
}

fn invalid(message: String) -> Error {
    Error::invalid("database_url", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_our_parameters_removed() {
        let config = PgConfig::from_url(
            "postgres://cb:s3cret@db.local:6543/cyber?pool_size=3&acquire_timeout_ms=250&schema=cb_x&sslmode=disable",
        )
        .unwrap();
        assert_eq!(config.pool_size, 3);
        assert_eq!(config.acquire_timeout, Duration::from_millis(250));
        assert_eq!(config.schema.as_deref(), Some("cb_x"));
        assert_eq!(config.connect.get_host(), "db.local");
        assert_eq!(config.connect.get_port(), 6543);
        assert_eq!(config.connect.get_username(), "cb");
        assert_eq!(config.connect.get_database(), Some("cyber"));
        assert_eq!(config.connect.get_application_name(), Some("cyberbrain"));
        assert!(
            config
                .connect
                .get_options()
                .is_some_and(|o| o.contains("search_path=cb_x,public")),
            "{:?}",
            config.connect.get_options()
        );
        assert_eq!(
            config.location(),
            "postgres://cb@db.local:6543/cyber (schema cb_x)"
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");

        let defaults = PgConfig::from_url("postgresql://postgres@127.0.0.1/cb").unwrap();
        assert_eq!(defaults.pool_size, PgConfig::DEFAULT_POOL_SIZE);
        assert_eq!(defaults.acquire_timeout, PgConfig::DEFAULT_ACQUIRE_TIMEOUT);
        assert_eq!(defaults.schema, None);
        assert_eq!(defaults.connect.get_options(), None);
    }

    #[test]
    fn bad_urls_name_the_field_and_the_fix_without_the_password() {
        for (url, needle) in [
            ("sqlite:///tmp/x.db", "not a PostgreSQL URL"),
            ("postgres://u:pw@h/db?pool_size=0", "pool_size"),
            ("postgres://u:pw@h/db?pool_size=many", "pool_size"),
            (
                "postgres://u:pw@h/db?acquire_timeout_ms=0",
                "acquire_timeout_ms",
            ),
            ("postgres://u:pw@h/db?schema=Bad-Name", "schema"),
            ("postgres://u:pw@h/db?schema=pg_catalog", "schema"),
            ("postgres://u:pw@h:notaport/db", "not a valid URL"),
        ] {
            let err = PgConfig::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidInput(_)), "{url}: {text}");
            assert!(
                text.contains("database_url") && text.contains(needle),
                "{url}: {text}"
            );
            assert!(!text.contains(":pw@"), "{url}: password leaked: {text}");
        }
    }

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redact("postgres://u:pw@h:5432/db?sslpassword=x&sslmode=require"),
            "postgres://u:***@h:5432/db?sslpassword=***&sslmode=require"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
