//! Log output: the filter from `CROSSBAR_LOG`, else `RUST_LOG`, else `info`; human-readable lines or JSON
//! objects, on standard error (standard output carries command results such as `crossbar export`).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

/// The filter directives in effect and where they came from.
fn directives() -> (String, &'static str) {
    for var in ["CROSSBAR_LOG", "RUST_LOG"] {
        if let Ok(value) = std::env::var(var)
            && !value.trim().is_empty()
        {
            return (value, var);
        }
    }
    ("info".to_owned(), "default")
}

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init(format: LogFormat) {
    let (text, source) = directives();
    let (filter, bad) = match EnvFilter::try_new(&text) {
        Ok(filter) => (filter, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    if let Some(error) = bad {
        tracing::warn!(%error, variable = source, value = %text, "ignoring a bad log filter; logging at info");
    }
}
