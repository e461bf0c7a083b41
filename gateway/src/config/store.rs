//! `[store]`: where the inventory and the location table live.

use std::path::Path;

use super::reader::Section;

/// The validated `[store]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// A `sqlite://` URL with an absolute path, or a `postgres://` URL as given.
    pub url: String,
}

/// The default: `crossbar.db` beside the configuration file (or in the working directory).
pub(super) fn default(base: &Path) -> StoreConfig {
    StoreConfig {
        url: provisioning::store::sqlite_url(&base.join("crossbar.db")),
    }
}

/// Resolves a store URL: relative SQLite paths are taken from `base`.
pub(super) fn resolve(url: &str, base: &Path) -> Result<String, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err("expected sqlite://PATH or postgres://USER@HOST/DB".to_owned());
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Err(
            "a SQLite store needs a file path; an in-memory database would lose everything at exit"
                .to_owned(),
        );
    }
    let mut resolved = provisioning::store::sqlite_url(&base.join(path));
    if let Some(query) = query {
        resolved.push('?');
        resolved.push_str(query);
    }
    Ok(resolved)
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> StoreConfig {
    let config = s
        .parsed("url", |url| resolve(url, base))
        .map_or_else(|| default(base), |url| StoreConfig { url });
    s.finish();
    config
}
