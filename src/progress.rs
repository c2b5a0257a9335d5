//! The live view of a `run`: plans done out of the total, failed, in
//! progress, samples per second and the time left.
//!
//! The numbers come from the bucket alone: each refresh is the in-process
//! scheduler's report (one listing for the plan states, the finished files
//! for the samples), so the view shows the whole campaign, builders of
//! other processes included, and never needs the builders' memory. On a
//! terminal (or with `--progress always`) it is an `indicatif` bar on
//! stderr, with log lines printed above it; otherwise an `info` log line
//! every `--progress-interval`.
//!
//! Not here: the summary printed at the end (`crate::report`).

use std::io::{IsTerminal, Write};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scheduler::StatusReport;
use tracing::info;

/// `--progress`: when to draw the bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    /// A bar, even when stderr is not a terminal (escape codes included).
    Always,
    /// Log lines only.
    Never,
}

/// The bar on screen, if any: log lines are written around it.
static ACTIVE: RwLock<Option<ProgressBar>> = RwLock::new(None);

/// The numbers shown at one refresh.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Snapshot {
    pub total: u64,
    pub finished: u64,
    pub failed: u64,
    pub in_progress: u64,
    pub samples_per_s: f64,
    /// `None` until some plan has ended in this run.
    pub eta: Option<Duration>,
}

impl Snapshot {
    /// `base`: plans ended and samples written before this run started
    /// (a campaign resumed), so that rates count this run's work only.
    pub(crate) fn new(r: &StatusReport, base: (u64, u64), elapsed: Duration) -> Snapshot {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let ended = r.states.finished + r.states.failed;
        let rate = ended.saturating_sub(base.0) as f64 / secs;
        let pending = r.pending();
        let eta = if pending == 0 {
            Some(Duration::ZERO)
        } else if rate > 0.0 {
            Some(Duration::from_secs_f64(pending as f64 / rate))
        } else {
            None
        };
        Snapshot {
            total: r.plans,
            finished: r.states.finished,
            failed: r.states.failed,
            in_progress: r.states.in_progress + r.states.stale,
            samples_per_s: r.totals.samples_out.saturating_sub(base.1) as f64 / secs,
            eta,
        }
    }

    /// `3 failed · 4 in progress · 1.2M samples/s · ETA 5m 3s`
    pub(crate) fn message(&self) -> String {
        let eta = self.eta.map_or_else(|| "?".to_string(), human_duration);
        format!(
            "{} failed · {} in progress · {} samples/s · ETA {eta}",
            self.failed,
            self.in_progress,
            human_count(self.samples_per_s)
        )
    }
}

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    log_every: Duration,
    last_log: Option<Instant>,
    base: Option<(u64, u64)>,
    last: Option<Snapshot>,
    /// Whether `last` is in the log already.
    last_logged: bool,
}

impl Progress {
    pub(crate) fn new(mode: ProgressMode, log_every: Duration) -> Progress {
        let draw = match mode {
            ProgressMode::Never => None,
            ProgressMode::Auto if !std::io::stderr().is_terminal() => None,
            ProgressMode::Auto => Some(ProgressDrawTarget::stderr_with_hz(4)),
            // indicatif draws nothing to a plain stderr target that is not a
            // terminal; a console term drawn through `TermLike` always draws.
            ProgressMode::Always => Some(ProgressDrawTarget::term_like_with_hz(
                Box::new(console::Term::stderr()),
                4,
            )),
        };
        let bar = draw.map(|target| {
            let bar = ProgressBar::with_draw_target(Some(0), target);
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} plans done · {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message("listing the bucket");
            bar.enable_steady_tick(Duration::from_millis(250));
            if let Ok(mut active) = ACTIVE.write() {
                *active = Some(bar.clone());
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            log_every,
            last_log: None,
            base: None,
            last: None,
            last_logged: false,
        }
    }

    /// Shows a fresh report of the scheduler.
    pub(crate) fn update(&mut self, r: &StatusReport) {
        let base = *self
            .base
            .get_or_insert((r.states.finished + r.states.failed, r.totals.samples_out));
        let snap = Snapshot::new(r, base, self.started.elapsed());
        self.last = Some(snap);
        self.last_logged = false;
        match &self.bar {
            Some(bar) => {
                bar.set_length(snap.total);
                bar.set_position(snap.finished + snap.failed);
                bar.set_message(snap.message());
            }
            None => {
                if self.last_log.is_none_or(|t| t.elapsed() >= self.log_every) {
                    self.last_log = Some(Instant::now());
                    self.last_logged = true;
                    log_line(&snap);
                }
            }
        }
    }

    /// Leaves the last numbers on screen (or in the log) and stops drawing.
    pub(crate) fn finish(self) {
        match &self.bar {
            Some(bar) => {
                bar.finish();
                // indicatif leaves the cursor at the end of the bar's line.
                eprintln!();
                if let Ok(mut active) = ACTIVE.write() {
                    *active = None;
                }
            }
            None => {
                if let Some(s) = self.last.filter(|_| !self.last_logged) {
                    log_line(&s);
                }
            }
        }
    }
}

fn log_line(s: &Snapshot) {
    info!(
        finished = s.finished,
        total = s.total,
        failed = s.failed,
        in_progress = s.in_progress,
        samples_per_s = s.samples_per_s.round() as u64,
        eta_s = s.eta.map(|d| d.as_secs()),
        "progress"
    );
}

/// The writer of log lines: straight to stderr, or above the bar while
/// one is drawn, so that neither garbles the other.
pub(crate) struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE.read().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `950`, `12.3k`, `4.5M`, `1.2G`.
fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.1}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(finished: u64, failed: u64, new: u64, samples: u64) -> StatusReport {
        let mut r = StatusReport {
            plans: finished + failed + new,
            ..Default::default()
        };
        r.states.finished = finished;
        r.states.failed = failed;
        r.states.new = new;
        r.totals.samples_out = samples;
        r
    }

    #[test]
    fn rates_count_this_run_only() {
        // 10 plans had ended before the run; 10 more in 10 s, 10 left.
        let s = Snapshot::new(
            &report(18, 2, 10, 5_000),
            (10, 1_000),
            Duration::from_secs(10),
        );
        assert_eq!(s.samples_per_s, 400.0);
        assert_eq!(s.eta, Some(Duration::from_secs(10)));
        assert_eq!(
            s.message(),
            "2 failed · 0 in progress · 400 samples/s · ETA 10s"
        );
        let idle = Snapshot::new(&report(0, 0, 5, 0), (0, 0), Duration::from_secs(3));
        assert_eq!(idle.eta, None);
        let done = Snapshot::new(&report(5, 0, 0, 0), (5, 0), Duration::from_secs(3));
        assert_eq!(done.eta, Some(Duration::ZERO));
    }

    #[test]
    fn human_units() {
        assert_eq!(human_count(1_234_567.0), "1.2M");
        assert_eq!(human_count(999.0), "999");
        assert_eq!(human_duration(Duration::from_secs(303)), "5m 3s");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "1d 1h");
    }
}
