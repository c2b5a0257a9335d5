//! Drill points: a builder can be told to stop dead at one stage of a plan,
//! so that tests and fire drills can kill it right there (SIGKILL, a node
//! lost) and watch the campaign recover.
//!
//! At most one stage is armed per process (`build --pause-at STAGE`, a
//! hidden flag). When the first plan reaches it, the builder says so on
//! stderr and blocks that thread forever, heartbeat still running, which is
//! the worst case for the others: the plan looks alive until the process is
//! gone. Unarmed, a point costs one atomic load.
//!
//! Not here: deciding anything. A drill point never changes what is
//! written; it only chooses the moment the process can die.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

/// The stages of one plan, in the order a build goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The plan file is downloaded, not yet read.
    PlanRead,
    /// The first series' data has been fetched from the source.
    Fetching,
    /// Every series is in the external sort, none read back yet (sources
    /// whose input is already in order have no such stage).
    Sorting,
    /// The first series is in the block being written.
    Writing,
    /// The first file of the block is uploaded, meta.json is not.
    UploadingBlock,
    /// meta.json is uploaded, the finished file is not written.
    UploadingMeta,
    /// The finished file is written, the progress file still exists.
    WritingFinished,
}

impl Stage {
    /// Every stage, in build order.
    pub const ALL: [Stage; 7] = [
        Stage::PlanRead,
        Stage::Fetching,
        Stage::Sorting,
        Stage::Writing,
        Stage::UploadingBlock,
        Stage::UploadingMeta,
        Stage::WritingFinished,
    ];

    /// The name `--pause-at` takes and the marker line prints.
    pub fn name(self) -> &'static str {
        match self {
            Stage::PlanRead => "plan-read",
            Stage::Fetching => "fetching",
            Stage::Sorting => "sorting",
            Stage::Writing => "writing",
            Stage::UploadingBlock => "uploading-block",
            Stage::UploadingMeta => "uploading-meta",
            Stage::WritingFinished => "writing-finished",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Stage::ALL.iter().map(|s| s.name()).collect();
                format!("unknown stage {s:?} (one of {})", names.join(", "))
            })
    }
}

static ARMED: OnceLock<Stage> = OnceLock::new();

/// Arms `stage` for this process. Only the first call counts, so a drill
/// cannot be re-aimed halfway.
pub fn arm(stage: Stage) {
    let _ = ARMED.set(stage);
}

/// The line printed when an armed point is reached; tests wait for it.
pub fn marker(stage: Stage) -> String {
    format!("blocksconvert: pause point {stage} reached")
}

/// Marks that the current plan has got to `stage`; never returns if that
/// stage is armed. Blocking on purpose: the point must hold wherever it is
/// reached, on an async worker or on a blocking thread.
pub(crate) fn reached(stage: Stage) {
    if !holds(ARMED.get().copied(), stage) {
        return;
    }
    eprintln!("{} (pid {})", marker(stage), std::process::id());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Whether reaching `stage` holds the process when `armed` is the armed
/// stage: only the armed stage holds, and nothing holds unarmed.
fn holds(armed: Option<Stage>, stage: Stage) -> bool {
    armed == Some(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Stage::ALL {
            assert_eq!(s.name().parse::<Stage>(), Ok(s));
        }
        let err = "fetch".parse::<Stage>().unwrap_err();
        assert!(err.contains("plan-read"), "{err}");
    }

    #[test]
    fn only_the_armed_stage_holds() {
        for s in Stage::ALL {
            assert!(!holds(None, s), "{s} holds unarmed");
            for armed in Stage::ALL {
                assert_eq!(holds(Some(armed), s), armed == s, "{s} with {armed} armed");
            }
        }
    }
}
