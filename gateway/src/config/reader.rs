//! Reading a TOML document key by key, collecting every problem with its place in the file.
//!
//! serde stops at the first error; operators deserve the whole list at once. Each section reads its keys
//! through a [`Section`], which notes which keys it consumed, reports type and value errors at the
//! value's line and column, and at the end reports every key nobody asked for.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when the problem has a place in the file.
    pub location: Option<(usize, usize)>,
    /// The dotted key path, such as `sip.listen[1]`; empty for file-level problems.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "{line}:{column}: ")?;
        }
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// A parsed document and the problems found in it so far.
pub(crate) struct Reader<'i> {
    src: &'i str,
    root: DeTable<'i>,
    sections_read: Vec<&'static str>,
    problems: Vec<Problem>,
}

fn location(src: &str, span: &Range<usize>) -> (usize, usize) {
    let before = src.get(..span.start).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl<'i> Reader<'i> {
    /// Parses `src`; on syntax errors returns every one the parser could recover from.
    pub(crate) fn parse(src: &'i str) -> Result<Self, Vec<Problem>> {
        let (root, errors) = DeTable::parse_recoverable(src);
        if !errors.is_empty() {
            return Err(errors
                .into_iter()
                .map(|e| Problem {
                    location: e.span().map(|s| location(src, &s)),
                    key: String::new(),
                    message: e.message().trim().to_owned(),
                })
                .collect());
        }
        Ok(Self {
            src,
            root: root.into_inner(),
            sections_read: Vec::new(),
            problems: Vec::new(),
        })
    }

    /// The section `[name]`, empty if the file lacks it.
    pub(crate) fn section(&mut self, name: &'static str) -> Section<'_, 'i> {
        self.sections_read.push(name);
        let Self {
            src,
            root,
            problems,
            ..
        } = self;
        let mut table = None;
        if let Some((_, value)) = root.iter().find(|(k, _)| k.get_ref() == name) {
            match value.get_ref() {
                DeValue::Table(t) => table = Some(t),
                other => problems.push(Problem {
                    location: Some(location(src, &value.span())),
                    key: name.to_owned(),
                    message: format!("expected a table [{name}], found {}", type_name(other)),
                }),
            }
        }
        Section {
            name,
            src,
            table,
            used: Vec::new(),
            problems,
        }
    }

    /// Records a problem found after the sections were read (a conflict between sections).
    pub(crate) fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: None,
            key: key.into(),
            message: message.into(),
        });
    }

    /// Whether any problem was found so far.
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Every problem, unknown sections included.
    pub(crate) fn finish(mut self) -> Vec<Problem> {
        for (key, _) in self.root.iter() {
            if !self.sections_read.contains(&key.get_ref().as_ref()) {
                self.problems.push(Problem {
                    location: Some(location(self.src, &key.span())),
                    key: key.get_ref().to_string(),
                    message: format!("unknown section (known: {})", self.sections_read.join(", ")),
                });
            }
        }
        self.problems
            .sort_by_key(|p| p.location.unwrap_or((usize::MAX, 0)));
        self.problems
    }
}

/// One `[section]` being read.
pub(crate) struct Section<'r, 'i> {
    name: &'static str,
    src: &'i str,
    table: Option<&'r DeTable<'i>>,
    used: Vec<&'static str>,
    problems: &'r mut Vec<Problem>,
}

impl<'r, 'i> Section<'r, 'i> {
    fn value(&mut self, key: &'static str) -> Option<&'r Spanned<DeValue<'i>>> {
        self.used.push(key);
        self.table?
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| v)
    }

    /// Records a problem with the value at `span`; `key` is the part after the section name.
    pub(crate) fn problem(&mut self, key: &str, span: &Range<usize>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: Some(location(self.src, span)),
            key: format!("{}.{key}", self.name),
            message: message.into(),
        });
    }

    fn wrong_type(&mut self, key: &str, value: &Spanned<DeValue<'i>>, expected: &str) {
        let found = type_name(value.get_ref());
        self.problem(
            key,
            &value.span(),
            format!("expected {expected}, found {found}"),
        );
    }

    /// A string value and its span.
    pub(crate) fn string(&mut self, key: &'static str) -> Option<(String, Range<usize>)> {
        let value = self.value(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some((s.to_string(), value.span())),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    /// A string parsed by `parse`; a parse error is reported at the value.
    pub(crate) fn parsed<T>(
        &mut self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (text, span) = self.string(key)?;
        match parse(&text) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problem(key, &span, format!("{text:?}: {message}"));
                None
            }
        }
    }

    /// An integer in `range`.
    pub(crate) fn integer(
        &mut self,
        key: &'static str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let value = self.value(key)?;
        let DeValue::Integer(i) = value.get_ref() else {
            self.wrong_type(key, value, "an integer");
            return None;
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.problem(
                    key,
                    &value.span(),
                    format!(
                        "{} is out of range {}..={}",
                        i.as_str(),
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// An array of strings, each parsed by `parse`; every bad element is reported.
    pub(crate) fn parsed_list<T>(
        &mut self,
        key: &'static str,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let value = self.value(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(key, value, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            match item.get_ref() {
                DeValue::String(s) => match parse(s) {
                    Ok(v) => out.push(v),
                    Err(message) => {
                        ok = false;
                        self.problem(&path, &item.span(), format!("{s:?}: {message}"));
                    }
                },
                _ => {
                    ok = false;
                    self.wrong_type(&path, item, "a string");
                }
            }
        }
        ok.then_some(out)
    }

    /// A sub-table whose keys are names and whose values are arrays of strings, each parsed by `parse`:
    /// `[section.key]` then `"name" = ["a", "b"]`. Every bad name (per `name_ok`) and element is reported.
    pub(crate) fn table_of_lists<T>(
        &mut self,
        key: &'static str,
        name_ok: impl Fn(&str) -> Result<String, String>,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Option<Vec<(String, Vec<T>)>> {
        let value = self.value(key)?;
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(key, value, "a table");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (name, list) in table.iter() {
            let path = format!("{key}.{}", name.get_ref());
            let name = match name_ok(name.get_ref()) {
                Ok(n) => n,
                Err(message) => {
                    ok = false;
                    self.problem(&path, &name.span(), message);
                    continue;
                }
            };
            let DeValue::Array(items) = list.get_ref() else {
                ok = false;
                self.wrong_type(&path, list, "an array of strings");
                continue;
            };
            let mut parsed = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item.get_ref() {
                    DeValue::String(s) => match parse(s) {
                        Ok(v) => parsed.push(v),
                        Err(message) => {
                            ok = false;
                            self.problem(&item_path, &item.span(), format!("{s:?}: {message}"));
                        }
                    },
                    _ => {
                        ok = false;
                        self.wrong_type(&item_path, item, "a string");
                    }
                }
            }
            out.push((name, parsed));
        }
        ok.then_some(out)
    }

    /// A table of strings (`name = "value"`), every name checked by `name_ok` and every value parsed by
    /// `parse`; every bad entry is reported, and then `None` is returned.
    pub(crate) fn table_of_strings<T>(
        &mut self,
        key: &'static str,
        name_ok: impl Fn(&str) -> Result<String, String>,
        mut parse: impl FnMut(&str) -> Result<T, String>,
    ) -> Option<Vec<(String, T)>> {
        let value = self.value(key)?;
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(key, value, "a table");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (name, item) in table.iter() {
            let path = format!("{key}.{}", name.get_ref());
            let name = match name_ok(name.get_ref()) {
                Ok(n) => n,
                Err(message) => {
                    ok = false;
                    self.problem(&path, &name.span(), message);
                    continue;
                }
            };
            match item.get_ref() {
                DeValue::String(s) => match parse(s) {
                    Ok(v) => out.push((name, v)),
                    Err(message) => {
                        ok = false;
                        self.problem(&path, &item.span(), format!("{s:?}: {message}"));
                    }
                },
                _ => {
                    ok = false;
                    self.wrong_type(&path, item, "a string");
                }
            }
        }
        ok.then_some(out)
    }

    /// Reports every key of the section nobody read.
    pub(crate) fn finish(self) {
        let Some(table) = self.table else { return };
        for (key, _) in table.iter() {
            let name = key.get_ref().as_ref();
            if !self.used.contains(&name) {
                self.problems.push(Problem {
                    location: Some(location(self.src, &key.span())),
                    key: format!("{}.{name}", self.name),
                    message: format!("unknown key (known: {})", self.used.join(", ")),
                });
            }
        }
    }
}
