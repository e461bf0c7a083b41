//! `[provisioning]`: how the files phones fetch are rendered.

use std::path::{Path, PathBuf};

use super::reader::Section;

/// The validated `[provisioning]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisioningConfig {
    /// A directory of templates replacing built-in ones of the same name (absolute); `None` for the
    /// built-in set only.
    pub templates: Option<PathBuf>,
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> ProvisioningConfig {
    let config = ProvisioningConfig {
        templates: s.parsed("templates", |dir| {
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
