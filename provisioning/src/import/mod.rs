//! Bulk provisioning from CSV, all or nothing.
//!
//! [`plan`] reads a file, checks every row against the file and the current inventory, and either returns
//! the inventory the file describes with the [`ChangeSet`] that gets there, or rejects the file listing
//! every bad row with its line number and reason. Nothing is written here: the caller applies the change
//! set with [`crate::Store::apply`], in one transaction, unless it is a dry run.
//!
//! The format (docs/ARCHITECTURE.md, "Bulk provisioning CSV"):
//! - a header row names the columns in any order: `domain, extension, first_name, last_name,
//!   display_name, password, email, department, voicemail, mac, model, line, blf`. Header names are
//!   matched ignoring case, surrounding blanks, and spaces or hyphens for underscores, so `First name`
//!   is `first_name`. Comma, semicolon or tab separated (detected from the header), UTF-8 with or
//!   without a byte-order mark, fields quoted with `"` as usual.
//! - `extension` is required; `domain` defaults to `[sip] default_domain`.
//! - a row sets the columns its file has: an empty cell clears that field, a column the file does not
//!   have leaves the field as it is. The exception is `password`: empty keeps the current credentials
//!   (a new user then has no SIP password and uses legacy lines only). A password is kept only as
//!   digest HA1; `crossbar export` writes the stored hashes as `ha1:<md5>:<sha256>`, which import takes
//!   back as they are.
//! - `mac` places the row's user on a device as a line; several rows with one `mac` are that device's
//!   lines, in `line` order (1-based, default: the next free line). A device named in the file gets
//!   exactly the lines and keys the file gives it. A user whose row has an empty `mac` (in a file with a
//!   `mac` column) no longer appears on any device; a device left without lines is removed.
//! - `blf` lists extensions of the same domain, separated by `;`, as busy-lamp keys on the row's device,
//!   placed after its lines and belonging to the row's line.
//! - import is an upsert: importing the same file twice changes nothing the second time.

mod build;
mod rows;

use std::fmt;

use crate::changes::ChangeSet;
use crate::inventory::Inventory;
use crate::mac::{MacError, MacWarning};

pub use rows::COLUMNS;

/// What import needs besides the file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The domain of rows without one (`[sip] default_domain`).
    pub default_domain: String,
}

/// An accepted file: the inventory it leads to and the changes that get there.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The inventory after the import.
    pub after: Inventory,
    /// What must be written.
    pub changes: ChangeSet,
    /// Things accepted but worth telling the operator, by file line.
    pub warnings: Vec<RowNote<Warning>>,
}

/// A rejected file: every problem found, by file line. Nothing may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Every problem, in file order.
    pub problems: Vec<RowNote<Problem>>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.problems {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

/// A problem or warning tied to a line of the file (1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowNote<T> {
    /// Line number in the file, as an editor shows it.
    pub line: u64,
    /// What was found.
    pub what: T,
}

impl<T: fmt::Display> fmt::Display for RowNote<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// Why a file is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file has no header row.
    #[error("the file is empty: it needs a header row naming its columns")]
    Empty,
    /// The CSV itself cannot be read (an unterminated quote, bytes that are not UTF-8).
    #[error("unreadable CSV: {0}")]
    Syntax(String),
    /// A header names a column we do not know.
    #[error("unknown column {0:?} (known: {known})", known = COLUMNS.join(", "))]
    UnknownColumn(String),
    /// A header names a column twice.
    #[error("column {0:?} appears twice")]
    DuplicateColumn(String),
    /// A required column is missing.
    #[error("the header has no {0:?} column")]
    MissingColumn(&'static str),
    /// A row's field count differs from the header's.
    #[error("the row has {found} fields, the header {expected}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A required field is empty.
    #[error("{0} is empty")]
    Required(&'static str),
    /// A field's value is malformed.
    #[error("{column} {value:?} is not valid: {reason}")]
    Invalid {
        /// The column.
        column: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The MAC cannot be a phone's.
    #[error("mac {value:?}: {error}")]
    Mac {
        /// The value as written.
        value: String,
        /// Why it is refused.
        error: MacError,
    },
    /// A MAC without a model.
    #[error("mac {0} needs a model")]
    MacWithoutModel(String),
    /// A model we do not know.
    #[error("unknown model {0:?} (`crossbar models` lists the known ones)")]
    UnknownModel(String),
    /// `line` or `blf` on a row without a MAC.
    #[error("{0} needs a mac: lines and keys belong to a device")]
    NeedsMac(&'static str),
    /// The same user twice.
    #[error("duplicate user {user}: already on line {first_line}")]
    DuplicateUser {
        /// `EXT@DOMAIN`.
        user: String,
        /// Where it first appears.
        first_line: u64,
    },
    /// Two rows claim the same line of a device.
    #[error("line {line} of device {mac} is already taken by line {first_line} of the file")]
    LineClash {
        /// The line number.
        line: u16,
        /// The device.
        mac: String,
        /// The row that took it first.
        first_line: u64,
    },
    /// Rows of one device disagree on its domain or model.
    #[error("device {mac} is given {field} {this:?} here but {first:?} on line {first_line}")]
    DeviceMismatch {
        /// The device.
        mac: String,
        /// `domain` or `model`.
        field: &'static str,
        /// This row's value.
        this: String,
        /// The first row's value.
        first: String,
        /// The first row of the device.
        first_line: u64,
    },
    /// More lines and keys than the model has buttons.
    #[error(
        "device {mac} ({model}) has {max} keys but needs {needed} for its lines and busy-lamp keys"
    )]
    TooManyKeys {
        /// The device.
        mac: String,
        /// Its model.
        model: &'static str,
        /// Keys the model has, expansion modules included.
        max: u16,
        /// Keys the file asks for.
        needed: usize,
    },
    /// A busy-lamp key watches an extension that does not exist in the device's domain.
    #[error("blf {target:?}: no such user in {domain}")]
    UnknownBlfTarget {
        /// The extension.
        target: String,
        /// The device's domain.
        domain: String,
    },
}

/// What is accepted but reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// Something about the MAC's spelling.
    #[error("mac {value:?}: {warning}")]
    Mac {
        /// The value as written.
        value: String,
        /// What was noticed.
        warning: MacWarning,
    },
    /// A model on a row without a MAC means nothing.
    #[error("model {0:?} ignored: the row has no mac")]
    ModelWithoutMac(String),
}

/// Reads `csv` and plans the import against `current`.
///
/// # Errors
/// A [`Rejection`] listing every problem of the file; nothing may then be written.
pub fn plan(csv: &[u8], current: &Inventory, options: &ImportOptions) -> Result<Plan, Rejection> {
    let parsed = rows::parse(csv, options);
    let mut problems = parsed.problems;
    let mut warnings = parsed.warnings;
    let built = build::build(current, &parsed.rows, parsed.has_mac_column);
    problems.extend(built.problems);
    warnings.sort_by_key(|n| n.line);
    if !problems.is_empty() {
        problems.sort_by_key(|n| n.line);
        return Err(Rejection { problems });
    }
    let changes = ChangeSet::between(current, &built.after);
    Ok(Plan {
        after: built.after,
        changes,
        warnings,
    })
}
