//! The `{id}` path segment. Ids are positive 64-bit integers; anything else cannot name a
//! resource, so it is answered like any other missing resource: 404, never a 500.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::ApiError;

/// A resource id taken from the `{id}` segment of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(raw)| raw)
            .unwrap_or_default();
        parse_id(&raw).map(ResourceId).ok_or_else(|| {
            ApiError::not_found(format!(
                "nothing at {}: {raw:?} is not an id; ids are positive integers",
                parts.uri.path()
            ))
        })
    }
}

fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_integers_are_ids() {
        assert_eq!(parse_id("7"), Some(7));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "0",
            "-3",
            "abc",
            "1.5",
            "",
            " 7",
            "9223372036854775808",
            "0x10",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }
}
