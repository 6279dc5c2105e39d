//! The crm-app binary: the command line, logging, then
//! [`crm_app::commands::execute`].

use std::process::ExitCode;

use clap::Parser;
use crm_app::commands::Cli;
use ops_kit::config::Env;
use ops_kit::telemetry::Telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    // `--help`, `--version` and usage errors exit here, before any logging.
    let cli = Cli::parse();
    let _logs = match Telemetry::from_env().and_then(Telemetry::init) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("[STARTUP ERROR] FATAL: {err}");
            eprintln!("[STARTUP] Aborting due to critical configuration errors");
            return ExitCode::FAILURE;
        }
    };
    crm_app::commands::execute(cli, Env::from_process()).await
}
