use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::wire_enum;

wire_enum! {
    /// API token roles, ordered: viewer < operator < admin.
    Role {
        Viewer = "viewer",
        Operator = "operator",
        Admin = "admin",
    }
}

impl Role {
    fn rank(self) -> u8 {
        match self {
            Self::Viewer => 0,
            Self::Operator => 1,
            Self::Admin => 2,
        }
    }

    /// Whether this role may do what `required` may.
    pub fn satisfies(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }
}

/// An API token; only the SHA-256 of the secret is stored (Phase 4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing)]
    pub token_sha256: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.satisfies(Role::Operator));
        assert!(Role::Operator.satisfies(Role::Operator));
        assert!(!Role::Viewer.satisfies(Role::Operator));
    }
}
