//! Where the database lives and how the connection pool is sized, parsed from a database URL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cyberbrain_core::{Error, Result};

/// How to open a SQLite store.
///
/// Accepted URLs: `sqlite:///abs/path.db` (absolute), `sqlite://rel/path.db` (relative to the
/// working directory), `sqlite:rel/path.db`, or a bare path. Query parameters: `pool_size`
/// (reader connections, 1–64, default 4) and `busy_timeout_ms` (how long a write waits for
/// another process's lock, default 5000). An in-memory database is not supported: every
/// connection of the pool must see the same data, so the store needs a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file; its parent directory is created on connect.
    pub path: PathBuf,
    /// Read-only connections beside the one writer connection.
    pub readers: usize,
    /// How long a statement waits for a lock held by another connection or process.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    pub const DEFAULT_READERS: usize = 4;
    pub const MAX_READERS: usize = 64;
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// A configuration for this file with default pool settings.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: Self::DEFAULT_READERS,
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
        }
    }

    pub fn with_readers(mut self, readers: usize) -> Self {
        self.readers = readers.clamp(1, Self::MAX_READERS);
        self
    }

    pub fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Parses a database URL or a bare path; errors name `database_url`, the rule and a fix.
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.is_empty() {
            return Err(invalid(
                "must not be empty; use sqlite:///absolute/path.db or a file path".to_string(),
            ));
        }
        let Some(rest) = url.strip_prefix("sqlite:") else {
            if url.contains("://") {
                return Err(invalid(format!(
                    "{url:?} is not a SQLite URL; use sqlite:///absolute/path.db, \
                     sqlite://relative/path.db or a plain file path"
                )));
            }
            return Ok(Self::new(url));
        };
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(invalid(format!(
                "{url:?} names no file; use sqlite:///absolute/path.db or sqlite://relative/path.db"
            )));
        }
        if path == ":memory:" || path.starts_with(":memory:") {
            return Err(invalid(format!(
                "{url:?}: an in-memory database is not supported (each pooled connection would \
                 see a different database); use a file such as sqlite://cyberbrain-data/cyberbrain.db"
            )));
        }
        let mut config = Self::new(percent_decode(path));
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "pool_size" => {
                    let readers = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=Self::MAX_READERS).contains(n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "pool_size={value:?} must be a whole number from 1 to {}",
                                Self::MAX_READERS
                            ))
                        })?;
                    config.readers = readers;
                }
                "busy_timeout_ms" => {
                    let millis = value.parse::<u64>().map_err(|_| {
                        invalid(format!(
                            "busy_timeout_ms={value:?} must be a whole number of milliseconds"
                        ))
                    })?;
                    config.busy_timeout = Duration::from_millis(millis);
                }
                // sqlx's open mode; this store always opens read-write and creates the file.
                "mode" => {}
                other => {
                    return Err(invalid(format!(
                        "unknown query parameter {other:?}; supported: pool_size, busy_timeout_ms"
                    )));
                }
            }
        }
        Ok(config)
    }
}

fn invalid(message: String) -> Error {
    Error::invalid("database_url", message)
}

/// Decodes `%XX` escapes (a URL path may escape spaces and the like); anything else is kept.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = input.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms_resolve_to_paths() {
        assert_eq!(
            SqliteConfig::from_url("sqlite:///var/lib/cb.db")
                .unwrap()
                .path,
            Path::new("/var/lib/cb.db")
        );
        assert_eq!(
            SqliteConfig::from_url("sqlite://data/cb.db").unwrap().path,
            Path::new("data/cb.db")
        );
        assert_eq!(
            SqliteConfig::from_url("sqlite:data/cb.db").unwrap().path,
            Path::new("data/cb.db")
        );
        assert_eq!(
            SqliteConfig::from_url(" ./cb.db ").unwrap().path,
            Path::new("./cb.db")
        );
        assert_eq!(
            SqliteConfig::from_url("/tmp/x y.db").unwrap().path,
            Path::new("/tmp/x y.db")
        );
        assert_eq!(
            SqliteConfig::from_url("sqlite:///tmp/x%20y.db?mode=rwc")
                .unwrap()
                .path,
            Path::new("/tmp/x y.db")
        );
    }

    #[test]
    fn query_parameters_size_the_pool() {
        let config =
            SqliteConfig::from_url("sqlite:///tmp/cb.db?pool_size=2&busy_timeout_ms=250").unwrap();
        assert_eq!(config.readers, 2);
        assert_eq!(config.busy_timeout, Duration::from_millis(250));
        let defaults = SqliteConfig::from_url("sqlite:///tmp/cb.db").unwrap();
        assert_eq!(defaults.readers, SqliteConfig::DEFAULT_READERS);
        assert_eq!(defaults.busy_timeout, SqliteConfig::DEFAULT_BUSY_TIMEOUT);
    }

    #[test]
    fn bad_urls_name_the_field_and_the_fix() {
        for (url, needle) in [
            ("", "must not be empty"),
            ("sqlite::memory:", "in-memory"),
            ("sqlite://", "names no file"),
            ("postgres://db/cb", "not a SQLite URL"),
            ("sqlite:///tmp/cb.db?pool_size=0", "pool_size"),
            (
                "sqlite:///tmp/cb.db?busy_timeout_ms=soon",
                "busy_timeout_ms",
            ),
            (
                "sqlite:///tmp/cb.db?cache=shared",
                "unknown query parameter",
            ),
        ] {
            let err = SqliteConfig::from_url(url).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InvalidInput(_)), "{url}: {text}");
            assert!(
                text.contains("database_url") && text.contains(needle),
                "{url}: {text}"
            );
        }
    }
}
