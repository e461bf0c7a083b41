//! Running external tools (tshark) from tests, so our readings can be compared with theirs.
//!
//! Tests must not assume the tools are installed: they call [`require_tool`] first and skip when it
//! returns `None`. In CI (`CI=true`) a missing tool is a failure instead, so the comparison is never
//! silently lost there.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why running a tool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The tool could not be started.
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// The program name.
        tool: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The tool exited unsuccessfully.
    #[error("{tool} exited with {code:?}: {stderr}")]
    Failed {
        /// The program name.
        tool: String,
        /// Its exit code, if it exited normally.
        code: Option<i32>,
        /// What it wrote to standard error.
        stderr: String,
    },
    /// The tool's output was not UTF-8.
    #[error("{tool} wrote output that is not UTF-8")]
    NotUtf8 {
        /// The program name.
        tool: String,
    },
}

/// Finds executable `name` on `PATH`.
///
/// Returns `None` (after printing `skipping: <name> not installed` to stderr) when it is missing,
/// so a test can return early.
///
/// # Panics
/// When the tool is missing and the environment variable `CI` is `true`: CI must run the
/// comparisons.
#[allow(clippy::panic)]
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(found) = find_on_path(name) {
        return Some(found);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required in CI (apt-get install {name})");
    }
    eprintln!("skipping: {name} not installed");
    None
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// Runs `tshark` with `args` and returns its standard output.
///
/// # Errors
/// [`PeerError`] if tshark cannot be started, fails, or writes non-UTF-8.
pub fn tshark(args: &[&str]) -> Result<String, PeerError> {
    run("tshark", args)
}

/// Runs `program` with `args` and returns its standard output.
///
/// # Errors
/// [`PeerError`] if it cannot be started, fails, or writes non-UTF-8.
pub fn run(program: &str, args: &[&str]) -> Result<String, PeerError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| PeerError::Spawn {
            tool: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(PeerError::Failed {
            tool: program.to_owned(),
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| PeerError::NotUtf8 {
        tool: program.to_owned(),
    })
}

/// Runs `tshark -r FILE -n [extra_args] -Y FILTER -T fields -E separator=/t -E occurrence=a
/// -E aggregator=, -e FIELD...` and returns one row per output line, one string per field (empty
/// where the packet lacks the field; repeated occurrences joined by commas).
///
/// # Errors
/// [`PeerError`] if tshark cannot be started, fails, or writes non-UTF-8.
pub fn tshark_fields(
    file: &Path,
    extra_args: &[&str],
    display_filter: &str,
    fields: &[&str],
) -> Result<Vec<Vec<String>>, PeerError> {
    let file = file.to_string_lossy();
    let mut args: Vec<&str> = vec!["-r", &file, "-n"];
    args.extend_from_slice(extra_args);
    args.extend([
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        args.extend(["-e", f]);
    }
    let out = tshark(&args)?;
    Ok(out
        .lines()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect())
}
