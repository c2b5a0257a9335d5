//! The one way an error and its causes become text for a person: on the
//! terminal, in logs and in the `failed` records of the bucket.
//!
//! An error's message and its cause's often overlap: a type that both
//! interpolates its source and returns it from `source()`, or a context
//! line that already quotes what went wrong. Walking the chain blindly, as
//! anyhow's `{:#}` does, then prints `X: X`. [`error_chain`] joins the
//! messages with `": "` but leaves out a cause whose message its parent's
//! already contains, so every message appears once whatever the types do.

use std::error::Error;
use std::fmt;

/// `e` and its causes as one line: `outer: cause: root cause`, each cause
/// left out when the message before it already contains its text.
///
/// Works for anyhow errors too: pass `&*err` (their context layers are
/// causes like any other).
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    ErrorChain(e).to_string()
}

/// [`error_chain`] as a `Display` value, for `tracing` fields and
/// `format!` without an intermediate string.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parent = self.0.to_string();
        f.write_str(&parent)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !parent.contains(&text) {
                write!(f, ": {text}")?;
            }
            parent = text;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with an optional cause, as thiserror types and anyhow
    /// context layers look from the outside.
    #[derive(Debug)]
    struct E(String, Option<Box<E>>);

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn chain(msgs: &[&str]) -> E {
        msgs.iter()
            .rev()
            .fold(None, |cause, m| Some(E(m.to_string(), cause.map(Box::new))))
            .unwrap()
    }

    #[test]
    fn a_cause_the_parent_already_quotes_is_printed_once() {
        // thiserror's `#[error("index {path}: {source}")]` with `#[source]`.
        let e = chain(&[
            "source block file:///d/01H",
            "index /d/01H/index: unsupported index format version 7",
            "unsupported index format version 7",
        ]);
        assert_eq!(
            error_chain(&e),
            "source block file:///d/01H: index /d/01H/index: unsupported index format version 7"
        );
    }

    #[test]
    fn distinct_causes_are_all_printed_in_order() {
        let e = chain(&["reading plan p", "downloading", "connection refused"]);
        assert_eq!(
            error_chain(&e),
            "reading plan p: downloading: connection refused"
        );
        assert_eq!(format!("{}", ErrorChain(&e)), error_chain(&e));
    }

    #[test]
    fn a_skipped_cause_still_lets_its_own_new_causes_through() {
        // The middle layer repeats the top one; the root cause is new.
        let e = chain(&["block b: chunk 0x8 bad", "chunk 0x8 bad", "CRC mismatch"]);
        assert_eq!(error_chain(&e), "block b: chunk 0x8 bad: CRC mismatch");
        let same = chain(&["X", "X", "X"]);
        assert_eq!(error_chain(&same), "X");
    }
}
