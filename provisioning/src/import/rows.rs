//! Reading the CSV and checking each row on its own.

use crate::digest::Ha1;
use crate::inventory::{UserId, is_domain, is_extension};
use crate::mac::Mac;
use crate::models::Model;

use super::{ImportOptions, Problem, RowNote, Warning};

/// The recognised columns, in the order `crossbar export` writes them.
pub const COLUMNS: [&str; 13] = [
    "domain",
    "extension",
    "first_name",
    "last_name",
    "display_name",
    "password",
    "email",
    "department",
    "voicemail",
    "mac",
    "model",
    "line",
    "blf",
];

/// Indexes into [`COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Domain,
    Extension,
    FirstName,
    LastName,
    DisplayName,
    Password,
    Email,
    Department,
    Voicemail,
    Mac,
    Model,
    Line,
    Blf,
}

/// A user field a row may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserField {
    FirstName,
    LastName,
    DisplayName,
    Email,
    Department,
    Voicemail,
}

/// What a row says about its user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Password {
    /// Leave them as they are (none for a new user).
    Keep,
    /// Set these hashes.
    Set(Ha1),
}

/// Where a row puts its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Placement {
    /// The file has no `mac` column: device assignments stay as they are.
    Untouched,
    /// The user appears on no device.
    Nowhere,
    /// The user is a line of this device.
    On {
        mac: Mac,
        model: &'static Model,
        line: Option<u16>,
        blf: Vec<String>,
    },
}

/// A row that passed its own checks.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) line: u64,
    pub(super) user: UserId,
    pub(super) fields: Vec<(UserField, String)>,
    pub(super) password: Password,
    pub(super) placement: Placement,
}

pub(super) struct Parsed {
    pub(super) rows: Vec<Row>,
    pub(super) has_mac_column: bool,
    pub(super) problems: Vec<RowNote<Problem>>,
    pub(super) warnings: Vec<RowNote<Warning>>,
}

/// The separator the header row uses: the most frequent of `,`, `;` and tab outside quotes.
fn detect_delimiter(csv: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in csv {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// The line of a quote that is never closed, if any (the CSV reader would take the rest of the file as
/// one field).
fn unclosed_quote(csv: &[u8]) -> Option<u64> {
    let mut line = 1;
    let mut opened_on = None;
    for &b in csv {
        match b {
            b'"' => {
                opened_on = if opened_on.is_some() {
                    None
                } else {
                    Some(line)
                }
            }
            b'\n' => line += 1,
            _ => {}
        }
    }
    opened_on
}

fn normalise_header(name: &str) -> String {
    name.trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .replace([' ', '-'], "_")
}

struct RowReader<'a> {
    line: u64,
    record: &'a csv::StringRecord,
    columns: &'a [Option<usize>; 13],
    problems: Vec<RowNote<Problem>>,
}

impl RowReader<'_> {
    fn get(&self, col: Col) -> Option<&str> {
        self.columns[col as usize].and_then(|i| self.record.get(i))
    }

    fn present(&self, col: Col) -> bool {
        self.columns[col as usize].is_some()
    }

    fn problem(&mut self, what: Problem) {
        self.problems.push(RowNote {
            line: self.line,
            what,
        });
    }

    fn invalid(&mut self, column: &'static str, value: &str, reason: &'static str) {
        self.problem(Problem::Invalid {
            column,
            value: value.to_owned(),
            reason,
        });
    }

    /// A free-text field: at most 255 characters, no control characters.
    fn text(&mut self, col: Col) -> Option<String> {
        let value = self.get(col)?.to_owned();
        let name = COLUMNS[col as usize];
        if value.chars().count() > 255 {
            self.invalid(name, &value, "longer than 255 characters");
        } else if value.chars().any(char::is_control) {
            self.invalid(
                name,
                &value,
                "contains a control character such as a line break",
            );
        }
        Some(value)
    }
}

pub(super) fn parse(csv: &[u8], options: &ImportOptions) -> Parsed {
    let mut parsed = Parsed {
        rows: Vec::new(),
        has_mac_column: false,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let header_problem = |what| RowNote { line: 1, what };
    if csv.iter().all(u8::is_ascii_whitespace) {
        parsed.problems.push(header_problem(Problem::Empty));
        return parsed;
    }
    if let Some(line) = unclosed_quote(csv) {
        parsed.problems.push(RowNote {
            line,
            what: Problem::Syntax("a quote opened here is never closed".to_owned()),
        });
        return parsed;
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(detect_delimiter(csv))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            parsed
                .problems
                .push(header_problem(Problem::Syntax(e.to_string())));
            return parsed;
        }
    };
    let mut columns: [Option<usize>; 13] = [None; 13];
    for (i, raw) in headers.iter().enumerate() {
        let name = normalise_header(raw);
        match COLUMNS.iter().position(|c| *c == name) {
            Some(c) if columns[c].is_some() => parsed
                .problems
                .push(header_problem(Problem::DuplicateColumn(name))),
            Some(c) => columns[c] = Some(i),
            None => parsed.problems.push(header_problem(Problem::UnknownColumn(
                raw.trim().to_owned(),
            ))),
        }
    }
    if columns[Col::Extension as usize].is_none() {
        parsed
            .problems
            .push(header_problem(Problem::MissingColumn("extension")));
    }
    if !parsed.problems.is_empty() {
        return parsed;
    }
    parsed.has_mac_column = columns[Col::Mac as usize].is_some();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                parsed.problems.push(RowNote {
                    line,
                    what: Problem::Syntax(e.to_string()),
                });
                // A syntax error leaves the reader's position unreliable: stop at the first one.
                break;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.iter().all(str::is_empty) {
            continue; // blank line
        }
        if record.len() != headers.len() {
            parsed.problems.push(RowNote {
                line,
                what: Problem::FieldCount {
                    expected: headers.len(),
                    found: record.len(),
                },
            });
            continue;
        }
        let mut row = RowReader {
            line,
            record: &record,
            columns: &columns,
            problems: Vec::new(),
        };
        let checked = check_row(&mut row, options, &mut parsed.warnings);
        parsed.problems.append(&mut row.problems);
        parsed.rows.extend(checked);
    }
    parsed
}

/// Checks one row's fields; `None` if any is bad (the problems are in `row`).
fn check_row(
    row: &mut RowReader<'_>,
    options: &ImportOptions,
    warnings: &mut Vec<RowNote<Warning>>,
) -> Option<Row> {
    let before = row.problems.len();
    let domain = match row.get(Col::Domain).filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = d.to_ascii_lowercase();
            if !is_domain(&d) {
                row.invalid("domain", &d, "not a domain name");
            }
            d
        }
        None => options.default_domain.clone(),
    };
    let extension = row.get(Col::Extension).unwrap_or_default().to_owned();
    if extension.is_empty() {
        row.problem(Problem::Required("extension"));
    } else if !is_extension(&extension) {
        row.invalid(
            "extension",
            &extension,
            "use letters, digits, '.', '_', '-' or '+' (up to 64)",
        );
    }
    let mut fields = Vec::new();
    for (col, field) in [
        (Col::FirstName, UserField::FirstName),
        (Col::LastName, UserField::LastName),
        (Col::DisplayName, UserField::DisplayName),
        (Col::Email, UserField::Email),
        (Col::Department, UserField::Department),
        (Col::Voicemail, UserField::Voicemail),
    ] {
        if let Some(value) = row.text(col) {
            fields.push((field, value));
        }
    }
    if let Some((_, email)) = fields.iter().find(|(f, _)| *f == UserField::Email) {
        let ok = email.is_empty()
            || email
                .split_once('@')
                .is_some_and(|(local, host)| !local.is_empty() && host.contains('.'))
                && !email.contains(char::is_whitespace);
        if !ok {
            let email = email.clone();
            row.invalid("email", &email, "expected name@domain");
        }
    }
    if let Some((_, vm)) = fields.iter().find(|(f, _)| *f == UserField::Voicemail)
        && !vm.is_empty()
        && !is_extension(vm)
    {
        let vm = vm.clone();
        row.invalid("voicemail", &vm, "expected a mailbox number");
    }
    let password = match row.get(Col::Password).unwrap_or_default() {
        "" => Password::Keep,
        p if Ha1::looks_like_export_form(p) => match Ha1::from_export_form(p) {
            Some(ha1) => Password::Set(ha1),
            None => {
                row.problem(Problem::Invalid {
                    column: "password",
                    value: "ha1:…".to_owned(),
                    reason: "an exported hash must be ha1:<32 hex digits>:<64 hex digits>",
                });
                Password::Keep
            }
        },
        p => Password::Set(Ha1::compute(&extension, &domain, p)),
    };
    let placement = placement(row, warnings);
    (row.problems.len() == before).then(|| Row {
        line: row.line,
        user: UserId::new(domain, extension),
        fields,
        password,
        placement,
    })
}

fn placement(row: &mut RowReader<'_>, warnings: &mut Vec<RowNote<Warning>>) -> Placement {
    let mac_text = row.get(Col::Mac).unwrap_or_default().to_owned();
    let model_text = row.get(Col::Model).unwrap_or_default().to_owned();
    let line_text = row.get(Col::Line).unwrap_or_default().to_owned();
    let blf_text = row.get(Col::Blf).unwrap_or_default().to_owned();
    let blf: Vec<String> = blf_text
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    for target in &blf {
        if !is_extension(target) {
            row.invalid("blf", target, "expected an extension");
        }
    }
    if mac_text.is_empty() {
        if !model_text.is_empty() {
            warnings.push(RowNote {
                line: row.line,
                what: Warning::ModelWithoutMac(model_text),
            });
        }
        if !line_text.is_empty() {
            row.problem(Problem::NeedsMac("line"));
        }
        if !blf.is_empty() {
            row.problem(Problem::NeedsMac("blf"));
        }
        return if row.present(Col::Mac) {
            Placement::Nowhere
        } else {
            Placement::Untouched
        };
    }
    let mac = match Mac::parse(&mac_text) {
        Ok((mac, notes)) => {
            for warning in notes {
                warnings.push(RowNote {
                    line: row.line,
                    what: Warning::Mac {
                        value: mac_text.clone(),
                        warning,
                    },
                });
            }
            Some(mac)
        }
        Err(error) => {
            row.problem(Problem::Mac {
                value: mac_text.clone(),
                error,
            });
            None
        }
    };
    let model = if model_text.is_empty() {
        row.problem(Problem::MacWithoutModel(mac_text));
        None
    } else {
        let found = Model::find(&model_text);
        if found.is_none() {
            row.problem(Problem::UnknownModel(model_text));
        }
        found
    };
    let line = if line_text.is_empty() {
        None
    } else {
        match line_text.parse::<u16>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                row.invalid("line", &line_text, "expected a line number from 1");
                None
            }
        }
    };
    match (mac, model) {
        (Some(mac), Some(model)) => Placement::On {
            mac,
            model,
            line,
            blf,
        },
        _ => Placement::Nowhere, // the row is rejected anyway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_is_detected_outside_quotes() {
        assert_eq!(detect_delimiter(b"extension,first_name\n1;2"), b',');
        assert_eq!(detect_delimiter(b"extension;\"a,b,c\";x\n"), b';');
        assert_eq!(detect_delimiter(b"extension\tmac\n"), b'\t');
        assert_eq!(detect_delimiter(b"extension\n"), b',');
    }

    #[test]
    fn headers_normalise() {
        assert_eq!(normalise_header("\u{feff} First name "), "first_name");
        assert_eq!(normalise_header("Display-Name"), "display_name");
        assert_eq!(normalise_header("MAC"), "mac");
    }
}
