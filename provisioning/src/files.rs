//! What the provisioning servers serve: a [`FileSource`] looks a requested name up (rendered device files
//! first, then static files under `[tftp] root`), after the name itself passed [`check_name`].
//!
//! Names are never mapped to paths before they are checked: traversal (`..`), absolute paths, empty
//! components and characters no phone uses are refused, so nothing outside the root can be reached and no
//! directory is ever listed.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::render::{Fetched, Renderer};
use crate::store::SeenVia;

/// Longest name accepted.
pub const MAX_NAME: usize = 255;

/// Why a requested name is refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing was asked for.
    #[error("empty file name")]
    Empty,
    /// Longer than [`MAX_NAME`].
    #[error("file name longer than {MAX_NAME} bytes")]
    TooLong,
    /// Starts with `/`.
    #[error("absolute path")]
    Absolute,
    /// A `.` or `..` component, or an empty one (`a//b`, a trailing `/`).
    #[error("path traversal or empty path component")]
    Traversal,
    /// A character outside `A-Z a-z 0-9 . _ - + /`.
    #[error("character {0:?} is not allowed in a file name")]
    Character(char),
}

/// Checks a requested name; returns it unchanged when it may be looked up.
///
/// # Errors
/// [`NameError`] naming the first thing wrong.
pub fn check_name(name: &str) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '/')))
    {
        return Err(NameError::Character(c));
    }
    if name.starts_with('/') {
        return Err(NameError::Absolute);
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(NameError::Traversal);
    }
    Ok(name)
}

/// The bytes of a file to serve.
#[derive(Debug)]
#[non_exhaustive]
pub enum Body {
    /// Rendered (or small) content in memory.
    Bytes(Bytes),
    /// A static file, streamed from disk.
    File {
        /// The open file.
        file: tokio::fs::File,
        /// Its length when opened.
        len: u64,
    },
}

impl Body {
    /// The length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file found for a request.
#[derive(Debug)]
pub struct Served {
    /// The content.
    pub body: Body,
    /// Its media type, for HTTP.
    pub content_type: &'static str,
    /// A strong entity tag, quoted (`"…"`).
    pub etag: String,
    /// The tenant domain of the device the file belongs to, for per-domain allow-lists.
    pub domain: Option<String>,
}

/// The outcome of a lookup.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// Serve this.
    Found(Served),
    /// A device file of a MAC that is not in the inventory (recorded as a seen device by the source).
    UnknownDevice,
    /// Nothing by that name.
    NotFound,
}

impl Lookup {
    /// Whether this is a miss (counted by the unknown-file rate limit).
    pub fn is_miss(&self) -> bool {
        !matches!(self, Self::Found(_))
    }
}

/// Looks requested names up. The name has passed [`check_name`].
pub trait FileSource: Send + Sync + 'static {
    /// Finds `name` for a client at `client`, asking over `via`, which sent `user_agent` (HTTP only).
    fn fetch(
        &self,
        name: &str,
        client: IpAddr,
        via: SeenVia,
        user_agent: Option<&str>,
    ) -> impl Future<Output = Lookup> + Send;
}

impl<T: FileSource> FileSource for std::sync::Arc<T> {
    fn fetch(
        &self,
        name: &str,
        client: IpAddr,
        via: SeenVia,
        user_agent: Option<&str>,
    ) -> impl Future<Output = Lookup> + Send {
        (**self).fetch(name, client, via, user_agent)
    }
}

/// The renderer serves device and shared files; an unknown MAC is recorded as seen by the renderer.
impl FileSource for Renderer {
    async fn fetch(
        &self,
        name: &str,
        client: IpAddr,
        via: SeenVia,
        user_agent: Option<&str>,
    ) -> Lookup {
        match self.fetch_via(via, name, Some(client), user_agent) {
            Ok(Fetched::File(file)) => {
                let domain = file
                    .mac
                    .and_then(|mac| self.catalog().domain(&mac).map(str::to_owned));
                Lookup::Found(Served {
                    body: Body::Bytes(file.body),
                    content_type: file.content_type,
                    etag: file.etag,
                    domain,
                })
            }
            Ok(Fetched::UnknownDevice { .. }) => Lookup::UnknownDevice,
            Ok(_) => Lookup::NotFound,
            Err(e) => {
                tracing::warn!(file = name, error = %e, "rendering failed");
                Lookup::NotFound
            }
        }
    }
}

/// Media type from a file name's extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("xml") => "text/xml; charset=utf-8",
        Some("cfg" | "cnf" | "txt" | "prv" | "ini" | "boot" | "scr") => "text/plain; charset=utf-8",
        Some("htm" | "html") => "text/html; charset=utf-8",
        Some("wav") => "audio/wav",
        Some("raw" | "pcm") => "audio/basic",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Static files under a directory (`[tftp] root`): firmware, ring tones, backgrounds.
#[derive(Debug, Clone)]
pub struct StaticRoot {
    root: PathBuf,
}

impl StaticRoot {
    /// Serves files under `root` (which need not exist: then every lookup misses).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Opens a checked name under the root; directories and anything that is not a regular file miss.
    pub async fn open(&self, name: &str) -> Lookup {
        if check_name(name).is_err() {
            return Lookup::NotFound;
        }
        let path = self.root.join(name);
        let Ok(file) = tokio::fs::File::open(&path).await else {
            return Lookup::NotFound;
        };
        let Ok(meta) = file.metadata().await else {
            return Lookup::NotFound;
        };
        if !meta.is_file() {
            return Lookup::NotFound;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Lookup::Found(Served {
            etag: format!("\"{:x}-{mtime:x}\"", meta.len()),
            content_type: content_type(name),
            body: Body::File {
                file,
                len: meta.len(),
            },
            domain: None,
        })
    }
}

impl FileSource for StaticRoot {
    async fn fetch(
        &self,
        name: &str,
        _client: IpAddr,
        _via: SeenVia,
        _user_agent: Option<&str>,
    ) -> Lookup {
        self.open(name).await
    }
}

/// A primary source (the renderer) with static files behind it: a name the primary does not know is
/// looked up under the root.
#[derive(Debug, Clone)]
pub struct WithStatic<P> {
    primary: P,
    fallback: StaticRoot,
}

impl<P> WithStatic<P> {
    /// `primary` first, then `fallback`.
    pub fn new(primary: P, fallback: StaticRoot) -> Self {
        Self { primary, fallback }
    }
}

impl<P: FileSource> FileSource for WithStatic<P> {
    async fn fetch(
        &self,
        name: &str,
        client: IpAddr,
        via: SeenVia,
        user_agent: Option<&str>,
    ) -> Lookup {
        match self.primary.fetch(name, client, via, user_agent).await {
            Lookup::NotFound => self.fallback.open(name).await,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_phones_use_pass() {
        for name in [
            "SEP0004F2ABCDEF.cnf.xml",
            "XMLDefault.cnf.xml",
            "English_United_States/mk-sccp.jar",
            "1140e.cfg",
            "y000000000028.cfg",
            "P0030801SR02.loads",
            "ringtones/Ring+1.raw",
        ] {
            assert_eq!(check_name(name), Ok(name));
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("/etc/passwd"), Err(NameError::Absolute));
        assert_eq!(check_name("../etc/passwd"), Err(NameError::Traversal));
        assert_eq!(check_name("a/../../b"), Err(NameError::Traversal));
        assert_eq!(check_name("a//b"), Err(NameError::Traversal));
        assert_eq!(check_name("./a"), Err(NameError::Traversal));
        assert_eq!(check_name("dir/"), Err(NameError::Traversal));
        assert_eq!(check_name(".."), Err(NameError::Traversal));
        assert_eq!(check_name("..\\boot.ini"), Err(NameError::Character('\\')));
        assert_eq!(check_name("c:x"), Err(NameError::Character(':')));
        assert_eq!(check_name("a\0b"), Err(NameError::Character('\0')));
        assert_eq!(check_name("~root"), Err(NameError::Character('~')));
        assert_eq!(check_name(&"a".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("SEP1.cnf.xml"), "text/xml; charset=utf-8");
        assert_eq!(content_type("1140E.CFG"), "text/plain; charset=utf-8");
        assert_eq!(content_type("P003.bin"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[tokio::test]
    async fn static_root_serves_files_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.bin"), b"abc").unwrap();
        let root = StaticRoot::new(dir.path());
        let Lookup::Found(served) = root.open("sub/a.bin").await else {
            panic!("not found")
        };
        assert_eq!(served.body.len(), 3);
        assert_eq!(served.content_type, "application/octet-stream");
        assert!(served.etag.starts_with("\"3-"));
        assert!(matches!(root.open("sub").await, Lookup::NotFound));
        assert!(matches!(root.open("../x").await, Lookup::NotFound));
        assert!(matches!(root.open("nope").await, Lookup::NotFound));
    }
}
