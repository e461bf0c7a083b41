//! `[provisioning]`: how the files phones fetch are rendered, and the safe defaults shared by the TFTP
//! and HTTP provisioning servers.
//!
//! ```toml
//! [provisioning]
//! templates = "templates"         # templates replacing built-in ones of the same name
//! allow = ["10.0.0.0/8"]          # sources that may fetch anything; empty: every source
//! unknown_burst = 20              # misses (unknown files) a source may make at once
//! unknown_per_minute = 30         # misses regained per minute
//! [provisioning.allow_by_domain]
//! "acme.example.com" = ["10.1.0.0/16"]   # that domain's device files only from these sources
//! ```

use std::path::{Path, PathBuf};

use provisioning::guard::{Cidr, Policy};

use super::reader::Section;

/// The validated `[provisioning]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningConfig {
    /// A directory of templates replacing built-in ones of the same name (absolute); `None` for the
    /// built-in set only.
    pub templates: Option<PathBuf>,
    /// Sources allowed to fetch anything; empty allows every source.
    pub allow: Vec<Cidr>,
    /// Per tenant domain (lower-case): the sources allowed to fetch that domain's device files.
    pub allow_by_domain: Vec<(String, Vec<Cidr>)>,
    /// Misses a source may make at once.
    pub unknown_burst: u32,
    /// Misses a source regains per minute.
    pub unknown_per_minute: u32,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        let policy = Policy::default();
        Self {
            templates: None,
            allow: policy.allow,
            allow_by_domain: policy.allow_by_domain,
            unknown_burst: policy.unknown_burst,
            unknown_per_minute: policy.unknown_per_minute,
        }
    }
}

impl ProvisioningConfig {
    /// The servers' policy.
    pub fn policy(&self) -> Policy {
        Policy {
            allow: self.allow.clone(),
            allow_by_domain: self.allow_by_domain.clone(),
            unknown_burst: self.unknown_burst,
            unknown_per_minute: self.unknown_per_minute,
        }
    }
}

fn domain_name(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= 253
        && lower.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(format!("{name:?} is not a domain name"))
    }
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> ProvisioningConfig {
    let default = ProvisioningConfig::default();
    let config = ProvisioningConfig {
        templates: s.parsed("templates", |dir| {
            if dir.is_empty() {
                Err("expected a directory".to_owned())
            } else {
                Ok(base.join(dir))
            }
        }),
        allow: s
            .parsed_list("allow", str::parse::<Cidr>)
            .unwrap_or(default.allow),
        allow_by_domain: s
            .table_of_lists("allow_by_domain", domain_name, str::parse::<Cidr>)
            .unwrap_or(default.allow_by_domain),
        unknown_burst: s
            .integer("unknown_burst", 1..=100_000)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default.unknown_burst),
        unknown_per_minute: s
            .integer("unknown_per_minute", 1..=1_000_000)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default.unknown_per_minute),
    };
    s.finish();
    config
}
