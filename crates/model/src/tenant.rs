//! Tenants: every stored row belongs to one.

/// The tenant a request acts for. Without auth, every request acts for [`TenantId::default_tenant`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// The single tenant of an unauthenticated, local service.
    pub fn default_tenant() -> Self {
        Self("00000000-0000-0000-0000-000000000000".to_owned())
    }

    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
