//! `crossbar`: parse the command line, set up logging, run the command, map the outcome to an exit code
//! (0 success, 1 runtime failure, 64 bad usage or configuration, 65 rejected input data).

use std::process::ExitCode;

/// mimalloc rather than the system allocator: SIP parsing and the location table make many small
/// allocations, and mimalloc both serves them faster and gives freed memory back to the system, so the
/// resident size follows the registered users instead of the last registration storm's peak.
/// It is built with `no_thp` (workspace Cargo.toml): with huge pages asked for, the first touch of
/// every 2 MiB of heap zeroed 2 MiB on the thread that touched it, 20-60 ms stalls of the SIP core
/// and the phone sessions that were the whole tail of the call-setup latency (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser as _;
use gateway::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            return if usage_error {
                ExitCode::from(cli::EX_USAGE)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    gateway::logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(cli::run(cli.command));
    // Don't let a task stuck in a blocking call hold the process after the command is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
