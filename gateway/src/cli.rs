//! The command line (docs/ARCHITECTURE.md, "Command line").

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use provisioning::import::{self, ImportOptions};
use provisioning::{MODELS, Store};

use crate::config::{Config, ConfigError};
use crate::logging::LogFormat;

/// Exit code for bad usage or configuration (sysexits EX_USAGE).
pub const EX_USAGE: u8 = 64;
/// Exit code for rejected input data (sysexits EX_DATAERR).
pub const EX_DATAERR: u8 = 65;

/// Crossbar: Cisco SCCP and Nortel/Avaya UNIStim phones as SIP users.
#[derive(Debug, Parser)]
#[command(name = "crossbar", version, about, propagate_version = true)]
pub struct Cli {
    /// Log line format.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "CROSSBAR_LOG_FORMAT",
        default_value = "human"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The configuration file option every command shares.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// Configuration file; without one, the built-in defaults (store: ./crossbar.db).
    #[arg(long, short = 'c', env = "CROSSBAR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything configured until SIGINT or SIGTERM.
    Serve(ConfigArg),
    /// Check the configuration, bind nothing; list every problem.
    CheckConfig(ConfigArg),
    /// Bulk-provision users and devices from CSV, all or nothing.
    Import(ImportArgs),
    /// Write the inventory as CSV (the import format) to standard output.
    Export(ConfigArg),
    /// List the supported phone models.
    Models,
    /// Print the configuration files a device would be served.
    Render(RenderArgs),
    /// List devices with their registration state, or phones seen but not in the inventory.
    Devices(DevicesArgs),
    /// List every SCCP and UNIStim message in a pcap or pcapng capture, reassembled.
    Decode(DecodeArgs),
}

/// `crossbar decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The capture (pcap or pcapng, as written by tcpdump, tshark or Wireshark).
    #[arg(value_name = "FILE.pcap")]
    pub file: PathBuf,
    /// One JSON object per line: frame, ts, src, dst, proto, id, name, fields.
    #[arg(long)]
    pub json: bool,
    /// UDP port carrying UNIStim (repeatable; default 5000). Nortel servers also use 4100, 7000 and 7300.
    #[arg(long = "unistim-port", value_name = "PORT", default_values_t = [5000u16])]
    pub unistim_ports: Vec<u16>,
}

/// `crossbar render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The device's MAC, in any spelling import accepts (`00:04:f2:ab:cd:ef`, `SEP0004F2ABCDEF`, ...).
    #[arg(value_name = "MAC")]
    pub mac: String,
    /// One of its files (such as `SEP0004F2ABCDEF.cnf.xml`); without it, every file, each after a
    /// `==> NAME <==` line.
    #[arg(value_name = "FILENAME")]
    pub file: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `crossbar devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// List phones seen (TFTP, HTTP, SCCP, UNIStim) whose MAC is not in the inventory.
    #[arg(long)]
    pub unknown: bool,
    /// With --unknown: print them as import CSV rows (mac and model filled in) to complete and import.
    #[arg(long, requires = "unknown")]
    pub csv: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `crossbar import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (columns: docs/ARCHITECTURE.md, "Bulk provisioning CSV").
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Print what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Ask the running gateway to reset every device whose rendered configuration the import changes,
    /// so the phones fetch their new files (the gateway polls the requests from the store).
    #[arg(long)]
    pub reset_changed: bool,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// How a command failed, which decides the exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Bad configuration or usage: exit 64.
    #[error("{0}")]
    Usage(String),
    /// Input data rejected: exit 65.
    #[error("{0}")]
    Rejected(String),
    /// Anything else: exit 1.
    #[error(transparent)]
    Runtime(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EX_USAGE,
            Self::Rejected(_) => EX_DATAERR,
            Self::Runtime(_) => 1,
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        Self::Usage(e.to_string())
    }
}

/// Runs one command.
///
/// # Errors
/// [`CliError`], whose [`CliError::exit_code`] the process exits with.
pub async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(arg) => {
            let config = Config::load(arg.config.as_deref())?;
            crate::serve::serve(config).await
        }
        Command::CheckConfig(arg) => {
            let config = Config::load(arg.config.as_deref())?;
            let name = config.origin.as_deref().map_or_else(
                || "built-in defaults".to_owned(),
                |p| p.display().to_string(),
            );
            println!("{name}: ok");
            Ok(())
        }
        Command::Import(args) => import_csv(&args).await,
        Command::Export(arg) => export_csv(arg.config.as_deref()).await,
        Command::Models => print_models(),
        Command::Render(args) => crate::fleet::render(&args).await,
        Command::Devices(args) => crate::fleet::devices(&args).await,
        Command::Decode(args) => decode_capture(&args),
    }
}

fn decode_capture(args: &DecodeArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let name = args.file.display();
    let (capture, damage) = captures::parse_partial(&bytes)
        .map_err(|e| CliError::Rejected(format!("{name}: not a readable capture: {e}")))?;
    let options = crate::decode::Options {
        json: args.json,
        unistim_ports: args.unistim_ports.clone(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let summary = match crate::decode::decode(&capture, &options, &mut out)
        .and_then(|s| out.flush().map(|()| s))
    {
        Ok(summary) => summary,
        // `crossbar decode x.pcap | head`: the reader has seen enough.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context("writing to standard output")
                .into());
        }
    };
    eprintln!(
        "{name}: {} frames, {} SCCP and {} UNIStim messages, {} malformed",
        capture.frames.len(),
        summary.sccp,
        summary.unistim,
        summary.malformed
    );
    match damage {
        Some(e) => Err(CliError::Rejected(format!(
            "{name}: capture damaged after frame {}: {e}",
            capture.frames.len()
        ))),
        None => Ok(()),
    }
}

pub(crate) async fn open_store(config: &Config) -> Result<Store, CliError> {
    Ok(Store::open(&config.store.url)
        .await
        .context("opening the store")?)
}

async fn import_csv(args: &ImportArgs) -> Result<(), CliError> {
    let config = Config::load(args.config.config.as_deref())?;
    let csv = std::fs::read(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let store = open_store(&config).await?;
    let current = store
        .load_inventory()
        .await
        .context("reading the inventory")?;
    let options = ImportOptions {
        default_domain: config.sip.default_domain.clone(),
    };
    let name = args.file.display();
    let plan = import::plan(&csv, &current, &options).map_err(|rejection| {
        let n = rejection.problems.len();
        CliError::Rejected(format!(
            "{name}: rejected, nothing written: {n} problem{}\n{}",
            if n == 1 { "" } else { "s" },
            rejection.to_string().trim_end()
        ))
    })?;
    for warning in &plan.warnings {
        eprintln!("warning: {name}: {warning}");
    }
    let resets = if args.reset_changed {
        crate::fleet::changed_devices(&config, &current, &plan.after)?
    } else {
        Vec::new()
    };
    let mut out = std::io::stdout().lock();
    let changes = &plan.changes;
    let written = (|| -> std::io::Result<()> {
        write!(out, "{changes}")?;
        if changes.is_empty() {
            writeln!(out, "no changes")
        } else if args.dry_run {
            writeln!(out, "dry run, nothing written: {}", changes.summary())
        } else {
            Ok(())
        }
    })();
    written.context("writing to standard output")?;
    if !args.dry_run && !changes.is_empty() {
        store
            .apply(changes)
            .await
            .context("writing the import to the store")?;
        writeln!(out, "imported: {}", changes.summary()).context("writing to standard output")?;
    }
    if args.reset_changed {
        let verb = if args.dry_run {
            "would request a reset of"
        } else {
            store
                .request_resets(&resets, crate::fleet::unix_now())
                .await
                .context("writing the reset requests")?;
            "reset requested for"
        };
        let list: Vec<String> = resets.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "{verb} {} device{}{}{}",
            resets.len(),
            if resets.len() == 1 { "" } else { "s" },
            if list.is_empty() { "" } else { ": " },
            list.join(", ")
        )
        .context("writing to standard output")?;
    }
    store.close().await;
    Ok(())
}

async fn export_csv(config: Option<&Path>) -> Result<(), CliError> {
    let config = Config::load(config)?;
    let store = open_store(&config).await?;
    let inventory = store
        .load_inventory()
        .await
        .context("reading the inventory")?;
    store.close().await;
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    provisioning::export::export(&inventory, out).context("writing the CSV")?;
    Ok(())
}

fn print_models() -> Result<(), CliError> {
    crate::fleet::write_out(|out| {
        writeln!(
            out,
            "{:<14} {:<7} {:<8} {:>9}  {:<20}  files",
            "model", "vendor", "protocol", "line keys", "expansion"
        )?;
        for model in MODELS {
            let expansion = model.expansion.map_or_else(
                || "-".to_owned(),
                |e| format!("up to {} x {} keys", e.modules, e.keys_per_module),
            );
            let files: Vec<String> = model
                .family
                .files()
                .iter()
                .map(|f| match model.family {
                    provisioning::Family::Unistim { type_name } => f
                        .replace("<TYPE>", type_name)
                        .replace("<type>", &type_name.to_ascii_lowercase()),
                    provisioning::Family::Yealink { family } => f.replace("XX", family),
                    _ => (*f).to_owned(),
                })
                .collect();
            writeln!(
                out,
                "{:<14} {:<7} {:<8} {:>9}  {expansion:<20}  {}",
                model.name,
                model.vendor,
                model.protocol.as_str(),
                model.line_keys,
                files.join(" ")
            )?;
        }
        Ok(())
    })
}
