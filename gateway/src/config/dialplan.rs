//! `[dialplan]`: how legacy phones end dialing.

use std::time::Duration;

use super::reader::Section;

/// The validated `[dialplan]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialplanConfig {
    /// Silence after the last digit that ends dialing (`#` ends it at once).
    pub interdigit: Duration,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        Self {
            interdigit: Duration::from_millis(4000),
        }
    }
}

pub(super) fn read(mut s: Section<'_, '_>) -> DialplanConfig {
    let config = DialplanConfig {
        interdigit: s.integer("interdigit_ms", 500..=60_000).map_or_else(
            || DialplanConfig::default().interdigit,
            |ms| Duration::from_millis(ms.unsigned_abs()),
        ),
    };
    s.finish();
    config
}
