//! The binary's commands: `serve` (the default), and the operator's
//! one-off jobs `migrate`, `check-config` and `verify-audit`.
//!
//! Exit statuses: 0 success; 1 the job could not run (invalid
//! configuration, database out of reach or missing, a migration failed);
//! 2 (only `verify-audit`) a hash chain is broken. No command creates a
//! database.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ops_kit::config::Env;
use ops_kit::sql::Pool;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::config::Config;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "crm-app",
    version,
    about = "The CRM for custom-cabinet and woodworking shops."
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply pending database migrations and exit (for an init job or a
    /// release step). Uses MIGRATION_DATABASE_URL when set, DATABASE_URL
    /// otherwise.
    Migrate,
    /// Run the start-up configuration checks, print the result and exit,
    /// without opening anything.
    CheckConfig,
    /// Check the audit trail's hash chains and report the first broken
    /// link. Exits 2 when a chain is broken.
    VerifyAudit {
        /// Check this tenant's chain only.
        #[arg(long, value_name = "ID")]
        tenant: Option<Uuid>,
    },
}

/// Runs the command line's command.
pub async fn execute(cli: Cli, env: Env) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => crate::run(env).await,
        Command::CheckConfig => check_config(&env),
        Command::Migrate => migrate(&env).await,
        Command::VerifyAudit { tenant } => verify_audit(&env, tenant).await,
    }
}

fn config(env: &Env) -> Result<Config, ExitCode> {
    Config::validator().check(env).map(Config::from_validated)
}

fn check_config(env: &Env) -> ExitCode {
    match config(env) {
        Ok(config) => {
            println!("configuration is valid ({} mode)", config.mode.as_str());
            ExitCode::SUCCESS
        }
        Err(exit) => {
            println!("configuration is invalid; see the errors above");
            exit
        }
    }
}

/// A one-connection pool for a job, on a database that must exist: a
/// mistyped SQLite path is an error naming it, and leaves no empty
/// database behind (only the service creates its database).
fn open(url: &SecretString) -> Result<Pool, ExitCode> {
    Pool::connect_lazy_existing(url.expose_secret(), Some(1)).map_err(|err| {
        eprintln!("cannot open the database: {err}");
        ExitCode::FAILURE
    })
}

async fn migrate(env: &Env) -> ExitCode {
    let config = match config(env) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    let pool = match open(
        config
            .migration_url
            .as_ref()
            .unwrap_or(&config.database_url),
    ) {
        Ok(pool) => pool,
        Err(exit) => return exit,
    };
    let result = crate::migrate::run(&pool).await;
    pool.close().await;
    match result {
        Ok(()) => {
            println!("migrations applied; the schema is up to date");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("migration failed: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn verify_audit(env: &Env, tenant: Option<Uuid>) -> ExitCode {
    let config = match config(env) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    let pool = match open(
        config
            .migration_url
            .as_ref()
            .unwrap_or(&config.database_url),
    ) {
        Ok(pool) => pool,
        Err(exit) => return exit,
    };
    let report = ops_kit::audit::verify(&pool, tenant).await;
    pool.close().await;
    match report {
        Ok(report) => match &report.broken {
            None => {
                println!(
                    "audit trail intact: {} chain(s), {} entries",
                    report.chains, report.entries
                );
                ExitCode::SUCCESS
            }
            Some(broken) => {
                println!("audit trail BROKEN: {broken}");
                println!(
                    "checked {} chain(s), {} entries",
                    report.chains, report.entries
                );
                ExitCode::from(2)
            }
        },
        Err(err) => {
            eprintln!("cannot read the audit trail: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_command_means_serve_and_each_command_parses() {
        assert!(Cli::try_parse_from(["crm-app"]).unwrap().command.is_none());
        assert!(matches!(
            Cli::try_parse_from(["crm-app", "migrate"]).unwrap().command,
            Some(Command::Migrate)
        ));
        assert!(matches!(
            Cli::try_parse_from(["crm-app", "check-config"])
                .unwrap()
                .command,
            Some(Command::CheckConfig)
        ));
        let id = Uuid::new_v4();
        let cli =
            Cli::try_parse_from(["crm-app", "verify-audit", "--tenant", &id.to_string()]).unwrap();
        assert!(matches!(cli.command, Some(Command::VerifyAudit { tenant: Some(t) }) if t == id));
        assert!(Cli::try_parse_from(["crm-app", "verify-audit", "--tenant", "nope"]).is_err());
        assert!(Cli::try_parse_from(["crm-app", "launch"]).is_err());
    }
}
