//! `[provisioning]`: the safe defaults shared by the TFTP and HTTP provisioning servers.
//!
//! ```toml
//! [provisioning]
//! allow = ["10.0.0.0/8"]          # sources that may fetch anything; empty: every source
//! unknown_burst = 20              # misses (unknown files) a source may make at once
//! unknown_per_minute = 30         # misses regained per minute
//! [provisioning.allow_by_domain]
//! "acme.example.com" = ["10.1.0.0/16"]   # that domain's device files only from these sources
//! ```

use provisioning::guard::{Cidr, Policy};

use super::reader::Section;

/// The validated `[provisioning]` section.
pub type ProvisioningConfig = Policy;

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

pub(super) fn read(mut s: Section<'_, '_>) -> ProvisioningConfig {
    let default = Policy::default();
    let config = Policy {
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
