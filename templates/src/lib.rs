//! Per-model phone configuration templates (minijinja), embedded in the binary and overridable from a
//! directory, with their typed contexts.
//!
//! Every template is a file under `templates/files/`, compiled into the binary with `include_str!`, and
//! rendered from one typed context ([`context`]): the context type names its template
//! ([`Context::TEMPLATE`]), so a caller cannot pair a context with the wrong file. An operator directory
//! ([`Templates::with_overrides`]) replaces any built-in template by a file of the same relative name;
//! a file there that names no built-in template is refused, so a typo is not silently ignored.
//!
//! Output formats: XML templates are auto-escaped with XML rules (`<`, `>`, `&`, `"`, `'`; unlike HTML
//! rules, `/` is left alone so URLs stay readable to old firmware); in the line-oriented text formats a
//! value's control characters (line breaks) become spaces, so a name cannot add a line, and in Cisco
//! `key: "value"` files a `"` becomes `'`.
//! Blocks are trimmed (`trim_blocks`, `lstrip_blocks`) so templates can be indented for reading.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod context;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use context::Context;

/// How a template's output is written, which decides escaping and the content type it is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// XML: values are escaped.
    Xml,
    /// Line-oriented text (`key=value;`, `key: "value"`, INI-like): values are written as they are.
    Text,
}

impl Format {
    /// The HTTP content type files of this format are served with.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Xml => "text/xml; charset=utf-8",
            Self::Text => "text/plain; charset=utf-8",
        }
    }
}

/// One built-in template.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name: the path under `templates/files/`, and the name an override file must have.
    pub name: &'static str,
    /// Its output format.
    pub format: Format,
    /// The template source.
    pub source: &'static str,
}

macro_rules! builtins {
    ($($name:literal => $format:ident),* $(,)?) => {
        /// Every built-in template.
        pub static BUILTINS: &[Builtin] = &[
            $(Builtin {
                name: $name,
                format: Format::$format,
                source: include_str!(concat!("../files/", $name)),
            }),*
        ];
    };
}

builtins! {
    "cisco-sccp/SEP.cnf.xml.j2" => Xml,
    "cisco-sccp/XMLDefault.cnf.xml.j2" => Xml,
    "cisco-sip/SEP.cnf.xml.j2" => Xml,
    "cisco-sip/SIP.cnf.j2" => Text,
    "cisco-sip/SIPDefault.cnf.j2" => Text,
    "cisco-sip/OS79XX.TXT.j2" => Text,
    "unistim/SYSTEM.PRV.j2" => Text,
    "unistim/TYPE.PRV.j2" => Text,
    "unistim/MAC.PRV.j2" => Text,
    "unistim/TYPE.cfg.j2" => Text,
    "polycom/master.cfg.j2" => Xml,
    "polycom/sip.cfg.j2" => Xml,
    "yealink/common.cfg.j2" => Text,
    "yealink/mac.cfg.j2" => Text,
}

/// Looks a built-in template up by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Why templates could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A template does not compile.
    #[error("template {name}: {source}")]
    Syntax {
        /// The template's name.
        name: String,
        /// What minijinja reported (with the line).
        source: minijinja::Error,
    },
    /// The override directory or one of its files cannot be read.
    #[error("cannot read template override {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file in the override directory names no built-in template.
    #[error(
        "template override {path}: no built-in template is called {name:?} (known: {known})",
        known = BUILTINS.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
    )]
    UnknownOverride {
        /// The file.
        path: PathBuf,
        /// Its name relative to the directory.
        name: String,
    },
    /// Rendering failed (an override using a variable its context does not have, a bad filter call).
    #[error("rendering {name}: {source}")]
    Render {
        /// The template's name.
        name: &'static str,
        /// What minijinja reported.
        source: minijinja::Error,
    },
}

/// The compiled template set; cheap to clone and shareable between threads.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    overridden: Arc<Vec<String>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("overridden", &self.overridden)
            .finish_non_exhaustive()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // A misspelt variable in an override is an error, not an empty value in a phone's file.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| match builtin(name).map(|b| b.format) {
        Some(Format::Xml) => AutoEscape::Custom("xml".into()),
        _ if name.ends_with(".cnf.j2") => AutoEscape::Custom("cnf".into()),
        _ => AutoEscape::Custom("text".into()),
    });
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        let result = match state.auto_escape() {
            _ if value.is_safe() => write!(out, "{value}"),
            AutoEscape::Custom(kind) if kind == "xml" => write_xml_escaped(out, value),
            AutoEscape::Custom(kind) if kind == "cnf" => write_text(out, value, true),
            _ => write_text(out, value, false),
        };
        result.map_err(minijinja::Error::from)
    });
    env
}

/// Text formats are line-oriented: a value may not start a new line (a name with a line break must not
/// add a key), so control characters become spaces; in Cisco `key: "value"` files `"` becomes `'`.
fn write_text(out: &mut minijinja::Output<'_>, value: &Value, quoted: bool) -> std::fmt::Result {
    let owned;
    let text = match value.as_str() {
        Some(s) => s,
        None => {
            owned = value.to_string();
            &owned
        }
    };
    if !text.chars().any(|c| c.is_control() || (quoted && c == '"')) {
        return out.write_str(text);
    }
    for c in text.chars() {
        let c = match c {
            c if c.is_control() => ' ',
            '"' if quoted => '\'',
            c => c,
        };
        out.write_char(c)?;
    }
    Ok(())
}

fn write_xml_escaped(out: &mut minijinja::Output<'_>, value: &Value) -> std::fmt::Result {
    if value.is_none() {
        return Ok(());
    }
    let owned;
    let text = match value.as_str() {
        Some(s) => s,
        None => {
            owned = value.to_string();
            &owned
        }
    };
    let mut rest = text;
    while let Some(at) = rest.find(['<', '>', '&', '"', '\'']) {
        let (plain, tail) = rest.split_at(at);
        out.write_str(plain)?;
        let mut chars = tail.chars();
        out.write_str(match chars.next() {
            Some('<') => "&lt;",
            Some('>') => "&gt;",
            Some('&') => "&amp;",
            Some('"') => "&quot;",
            _ => "&apos;",
        })?;
        rest = chars.as_str();
    }
    out.write_str(rest)
}

impl Templates {
    /// The built-in set.
    ///
    /// # Errors
    /// Only if a built-in template does not compile, which the crate's tests rule out.
    pub fn builtin() -> Result<Self, TemplateError> {
        let mut env = environment();
        for b in BUILTINS {
            env.add_template(b.name, b.source)
                .map_err(|source| TemplateError::Syntax {
                    name: b.name.to_owned(),
                    source,
                })?;
        }
        Ok(Self {
            env: Arc::new(env),
            overridden: Arc::new(Vec::new()),
        })
    }

    /// The built-in set with every file of `dir` (searched recursively, named by its path relative to
    /// `dir` with `/` separators, such as `cisco-sccp/SEP.cnf.xml.j2`) replacing the built-in template of
    /// that name. A missing directory is an error: the operator named it.
    ///
    /// # Errors
    /// [`TemplateError`] when the directory cannot be read, a file names no built-in template, or a
    /// file does not compile.
    pub fn with_overrides(dir: &Path) -> Result<Self, TemplateError> {
        let mut files = Vec::new();
        collect_files(dir, dir, &mut files)?;
        files.sort();
        let mut env = environment();
        let mut overridden = Vec::new();
        for b in BUILTINS {
            env.add_template(b.name, b.source)
                .map_err(|source| TemplateError::Syntax {
                    name: b.name.to_owned(),
                    source,
                })?;
        }
        for (name, path) in files {
            let Some(b) = builtin(&name) else {
                return Err(TemplateError::UnknownOverride { path, name });
            };
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
                path: path.clone(),
                source,
            })?;
            env.add_template_owned(b.name, source)
                .map_err(|source| TemplateError::Syntax {
                    name: path.display().to_string(),
                    source,
                })?;
            overridden.push(name);
        }
        Ok(Self {
            env: Arc::new(env),
            overridden: Arc::new(overridden),
        })
    }

    /// The names of the templates an override directory replaced.
    pub fn overridden(&self) -> &[String] {
        &self.overridden
    }

    /// Renders `ctx` through its template.
    ///
    /// # Errors
    /// [`TemplateError::Render`] when the template fails at run time (only possible with overrides, or a
    /// context the built-in template was not written for).
    pub fn render<C: Context>(&self, ctx: &C) -> Result<String, TemplateError> {
        let render_error = |source| TemplateError::Render {
            name: C::TEMPLATE,
            source,
        };
        let template = self.env.get_template(C::TEMPLATE).map_err(render_error)?;
        template
            .render(Value::from(minijinja::value::Serde(ctx)))
            .map_err(render_error)
    }

    /// The format of `C`'s template.
    pub fn format_of<C: Context>() -> Format {
        builtin(C::TEMPLATE).map_or(Format::Text, |b| b.format)
    }
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| TemplateError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| TemplateError::Io {
            path: path.clone(),
            source,
        })?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if name.starts_with('.') || name.ends_with('~') {
                continue; // editor leftovers
            }
            out.push((name, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::context::*;
    use super::*;

    fn server() -> Endpoint {
        Endpoint {
            host: "192.0.2.10".to_owned(),
            port: 5060,
        }
    }

    fn line(name: &str) -> SipLine {
        SipLine {
            button: 1,
            extension: "1001".to_owned(),
            auth_name: "1001".to_owned(),
            password: Some("s3cret".to_owned()),
            display_name: name.to_owned(),
            label: name.to_owned(),
            domain: "acme.example.com".to_owned(),
            voicemail: None,
        }
    }

    #[test]
    fn every_builtin_compiles_and_cites_its_sources() {
        let templates = Templates::builtin().unwrap();
        assert!(templates.overridden().is_empty());
        for b in BUILTINS {
            assert!(b.source.starts_with("{#"), "{}: no header comment", b.name);
            let header = &b.source[..b.source.find("#}").unwrap()];
            assert!(
                header.contains("shared/provisioning-examples/") || header.contains("NN43001"),
                "{}: the header must name its sources",
                b.name
            );
        }
    }

    #[test]
    fn xml_values_are_escaped_without_mangling_slashes() {
        let ctx = PolycomMaster {
            app_file: "firmware/sip.ld".to_owned(),
            config_files: vec!["a\"b<c>&'d".to_owned()],
        };
        let text = Templates::builtin().unwrap().render(&ctx).unwrap();
        assert!(text.contains("APP_FILE_PATH=\"firmware/sip.ld\""), "{text}");
        assert!(
            text.contains("CONFIG_FILES=\"a&quot;b&lt;c&gt;&amp;&apos;d\""),
            "{text}"
        );
    }

    #[test]
    fn text_values_cannot_add_lines() {
        let ctx = YealinkDevice {
            model: "yealink-t4x".to_owned(),
            sip_server: server(),
            lines: vec![line("Eve\naccount.1.sip_server.1.address = 203.0.113.66")],
        };
        let text = Templates::builtin().unwrap().render(&ctx).unwrap();
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("account.1.sip_server.1.address = 203")),
            "{text}"
        );
        assert!(text.contains("account.1.password = s3cret"), "{text}");
        let cnf = Cisco79xxSipDevice {
            model: "cisco-7960-sip".to_owned(),
            phone_label: "The \"Boss\"".to_owned(),
            lines: vec![line("A\rB")],
            sip_server: server(),
        };
        let text = Templates::builtin().unwrap().render(&cnf).unwrap();
        assert!(text.contains("phone_label: \"The 'Boss'\""), "{text}");
        assert!(text.contains("line1_displayname: \"A B\""), "{text}");
    }

    #[test]
    fn a_missing_override_directory_is_an_error() {
        let err =
            Templates::with_overrides(Path::new("/nonexistent/crossbar-templates")).unwrap_err();
        assert!(matches!(err, TemplateError::Io { .. }), "{err}");
    }
}
