//! `[templates]`: operator templates replacing built-in ones.

use std::path::{Path, PathBuf};

use super::reader::Section;

/// The validated `[templates]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplatesConfig {
    /// A directory of templates replacing built-in ones of the same name (absolute); `None` for the
    /// built-in set only.
    pub dir: Option<PathBuf>,
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> TemplatesConfig {
    let config = TemplatesConfig {
        dir: s.parsed("dir", |dir| {
            if dir.is_empty() {
                Err("expected a directory".to_owned())
            } else {
                Ok(base.join(dir))
            }
        }),
    };
    s.finish();
    config
}
