//! Tenant IDs are untrusted: they come from index entries, plan headers and
//! bucket listings, and they become path segments. Only IDs that Cortex
//! itself accepts pass (`pkg/tenant` `ValidTenantID`): letters, digits and
//! `!-_.*'()`, at most 150 bytes, not `.` or `..`.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant ID is empty")]
    Empty,
    #[error("tenant ID {0:?} is longer than 150 bytes")]
    TooLong(String),
    #[error("tenant ID {0:?} is not allowed")]
    Reserved(String),
    #[error("tenant ID {id:?} has a character Cortex does not allow: {ch:?}")]
    BadChar { id: String, ch: char },
}

pub const MAX_TENANT_LEN: usize = 150;

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
    pub allowed: Vec<String>,
    pub ignored: Option<regex::Regex>,
}

impl TenantFilter {
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
