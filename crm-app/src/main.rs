//! The crm-app binary: logging, then [`crm_app::run`].

use std::process::ExitCode;

use ops_kit::config::Env;
use ops_kit::telemetry::Telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let _logs = match Telemetry::from_env().and_then(Telemetry::init) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("[STARTUP ERROR] FATAL: {err}");
            eprintln!("[STARTUP] Aborting due to critical configuration errors");
            return ExitCode::FAILURE;
        }
    };
    crm_app::run(Env::from_process()).await
}
