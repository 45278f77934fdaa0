//! Query-string filters of the list endpoints (`?status=`, `?task=`, `?run=`). Read like the
//! page parameters: the last occurrence wins and an empty value means "no filter". A value that
//! cannot be read is a 400 naming the parameter — a filter silently ignored would answer a
//! different question than the one asked.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cyberbrain_core::FieldErrors;
use url::form_urlencoded;

/// Every `name=value` pair of the query string, decoded, in order.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query()))
    }
}

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The last value given for `name`, trimmed; `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_string())
            .filter(|value| !value.is_empty())
    }

    /// A value of a wire enum (`RunStatus`, `ApprovalStatus`, …); an unknown one is recorded
    /// under `name` with the allowed values.
    pub fn parsed<T>(&self, errors: &mut FieldErrors, name: &str) -> Option<T>
    where
        T: FromStr<Err = String>,
    {
        let value = self.text(name)?;
        match value.parse::<T>() {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                errors.add(name, message);
                None
            }
        }
    }

    /// A resource id (a positive integer).
    pub fn id(&self, errors: &mut FieldErrors, name: &str) -> Option<i64> {
        let value = self.text(name)?;
        match value.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                errors.add(
                    name,
                    format!("must be an id (a positive integer); got {value:?}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::domain::RunStatus;

    use super::*;

    #[test]
    fn last_non_empty_value_wins_and_bad_values_name_the_parameter() {
        let params = QueryParams::parse(Some("status=running&status=failed&task=+task1+&run="));
        let mut errors = FieldErrors::new();
        assert_eq!(
            params.parsed::<RunStatus>(&mut errors, "status"),
            Some(RunStatus::Failed)
        );
        assert_eq!(params.text("task").as_deref(), Some("task1"));
        assert_eq!(params.id(&mut errors, "run"), None, "empty = no filter");
        assert!(errors.is_empty(), "{errors:?}");

        let params = QueryParams::parse(Some("status=done&run=-4&page=2"));
        assert_eq!(params.parsed::<RunStatus>(&mut errors, "status"), None);
        assert_eq!(params.id(&mut errors, "run"), None);
        assert!(errors.0["status"][0].contains("\"done\" is not one of"));
        assert!(errors.0["run"][0].contains("positive integer"));
    }
}
