//! Tenant IDs are untrusted: they come from index entries, plan headers and
//! bucket listings, and they become path segments. Only IDs that Cortex
//! itself accepts pass (`pkg/tenant` `ValidTenantID`): letters, digits and
//! `!-_.*'()`, at most 150 bytes, not `.` or `..`.

/// Why a tenant ID is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// An empty ID.
    #[error("tenant ID is empty")]
    Empty,
    /// Longer than [`MAX_TENANT_LEN`] bytes (shown cut).
    #[error("tenant ID {0:?} is longer than 150 bytes")]
    TooLong(String),
    /// `.` or `..`, which would walk the bucket.
    #[error("tenant ID {0:?} is not allowed")]
    Reserved(String),
    /// A character outside letters, digits and `!-_.*'()`.
    #[error("tenant ID {id:?} has a character Cortex does not allow: {ch:?}")]
    BadChar {
        /// The ID, escaped for printing.
        id: String,
        /// The first character refused.
        ch: char,
    },
}

/// Longest tenant ID Cortex accepts, in bytes.
pub const MAX_TENANT_LEN: usize = 150;

/// Accepts exactly the IDs Cortex accepts.
pub fn validate_tenant(id: &str) -> Result<(), TenantError> {
    if id.is_empty() {
        return Err(TenantError::Empty);
    }
    if id.len() > MAX_TENANT_LEN {
        return Err(TenantError::TooLong(
            id.chars().take(40).collect::<String>() + "…",
        ));
    }
    if id == "." || id == ".." {
        return Err(TenantError::Reserved(id.to_string()));
    }
    if let Some(ch) = id
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(c)))
    {
        return Err(TenantError::BadChar {
            id: id.escape_debug().to_string(),
            ch,
        });
    }
    Ok(())
}

/// Which tenants a worker serves: `--allowed-tenants` and `--ignore-tenants`.
#[derive(Clone, Debug, Default)]
pub struct TenantFilter {
    /// Only these tenants; empty: all.
    pub allowed: Vec<String>,
    /// Tenants matching this are skipped, even when allowed.
    pub ignored: Option<regex::Regex>,
}

impl TenantFilter {
    /// Whether `tenant` is served.
    pub fn allows(&self, tenant: &str) -> bool {
        (self.allowed.is_empty() || self.allowed.iter().any(|a| a == tenant))
            && !self.ignored.as_ref().is_some_and(|r| r.is_match(tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cortex_rules() {
        for ok in ["alpha", "team_b.prod", "a-b_c.d!e*f'g(h)", &"x".repeat(150)] {
            validate_tenant(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a\nb",
            "a b",
            "é",
            "a:b",
            &"x".repeat(151),
        ] {
            assert!(validate_tenant(bad).is_err(), "{bad:?}");
        }
    }
}
