//! `blocksconvert`: one binary, one subcommand per worker.
//!
//! For: parsing the command line, opening the buckets a command needs (one
//! set of options, so one throttle, per process), wiring the crates
//! together and printing their reports.
//!
//! Not for behaviour: scanning, building and watching live in `scanner`,
//! `builder` and `scheduler` (whose `Scheduler::watch` is the one campaign
//! loop), so `run` goes through exactly the code paths of the separate
//! commands.

mod cli;
mod demo;
mod progress;
mod report;
mod retry;
mod run;
mod schedule;
mod status;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = rt.block_on(cli::dispatch(args.command));
    // A build dropped by a clean stop may still have a blocking step
    // running; it removes its local directory when it ends. Wait for that,
    // but not for ever.
    rt.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", base::ErrorChain(&*e));
            std::process::ExitCode::from(1)
        }
    }
}
