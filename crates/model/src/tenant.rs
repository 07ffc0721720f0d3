//! Tenants: every stored row belongs to one.

/// The tenant a request acts for. Without auth, every request acts for [`TenantId::default_tenant`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// The single tenant of an unauthenticated, local service.
    pub fn default_tenant() -> Self {
        Self("00000000-0000-0000-0000-000000000000".to_owned())
    }

    /// The longest tenant id, in characters.
    pub const MAX_CHARS: usize = 128;

    /// A tenant id from outside (a token's `tid`): 1–128 printable ASCII characters, else `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = !text.is_empty() && text.chars().count() <= Self::MAX_CHARS && text.chars().all(|c| c.is_ascii_graphic());
        valid.then(|| Self(text.to_owned()))
    }

    /// One read back from the store, where only parsed ids are ever written.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::TenantId;

    #[test]
    fn tenant_ids_are_1_to_128_printable_ascii_characters() {
        assert!(TenantId::parse("contoso").is_some());
        assert!(TenantId::parse(&"t".repeat(128)).is_some());
        for bad in ["", "has space", "tab\t", "é", &"t".repeat(129)] {
            assert!(TenantId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
