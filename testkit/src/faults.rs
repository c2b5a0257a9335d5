//! An object store that fails on command, for fault-injection tests.
//!
//! [`FaultStore`] wraps any [`ObjectStore`] and passes every call through,
//! unless a [`Rule`] given to its [`Faults`] handle matches the call: then
//! it injects that rule's [`Fault`] instead (an error, an error after the
//! request landed, a hang, a body that breaks off). The handle is cloneable
//! and changes the rules while the code under test runs; it also counts
//! calls per operation and faults injected, so a test can prove its faults
//! were hit.
//!
//! Injected errors are `object_store::Error::Generic`, the kind a real
//! store returns for a dropped connection or a 5xx answer: transient;
//! [`Fault::Denied`] injects a permanent one instead.
//!
//! Not here: retrying (the code under test does it), randomness (rules are
//! explicit so that tests are deterministic).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result, UploadPart,
};

/// The operations a rule can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `put`/`put_opts` (conditional puts included).
    Put,
    /// Starting a multipart upload, each of its parts, and completing it.
    PutMultipart,
    /// Reads of content (`get`, `get_opts`, ranges).
    Get,
    /// Metadata reads (`head`, `get_opts` with `head: true`).
    Head,
    /// `list`, `list_with_offset`, `list_with_delimiter`.
    List,
    /// `delete`.
    Delete,
    /// `copy`, `rename` and their `if_not_exists` forms.
    Copy,
    /// Matches every operation (only in rules; calls are counted by kind).
    Any,
}

const OPS: [Op; 7] = [
    Op::Put,
    Op::PutMultipart,
    Op::Get,
    Op::Head,
    Op::List,
    Op::Delete,
    Op::Copy,
];

/// What a matching call gets instead of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails at once; nothing reaches the store.
    Error,
    /// The request reaches the store and takes effect, then the answer is
    /// lost: the caller sees an error (a timeout after the write landed).
    ErrorAfter,
    /// Waits this long before passing the call through, as an unanswered
    /// request would; the caller's timeout is expected to give up first.
    Hang(Duration),
    /// Gets only: the answer starts, then its body breaks off after the
    /// first piece. Other operations get [`Fault::Error`].
    BrokenBody,
    /// Fails at once with `PermissionDenied`, as a store answers a caller
    /// without the right: an error that asking again cannot fix.
    Denied,
}

/// Which calls fail, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The operation this rule fails.
    pub op: Op,
    /// Matches keys containing this text (`""` matches every key). Lists
    /// match on their prefix, copies on either key.
    pub key_contains: String,
    /// How many matching calls fail; `None` means every one.
    pub times: Option<usize>,
    /// What the failing calls do.
    pub fault: Fault,
}

impl Rule {
    /// The next `times` calls of `op` on keys containing `key_contains` fail
    /// with a transient error.
    pub fn error(op: Op, key_contains: &str, times: usize) -> Self {
        Rule {
            op,
            key_contains: key_contains.to_string(),
            times: Some(times),
            fault: Fault::Error,
        }
    }

    /// Every call of `op` on keys containing `key_contains` fails.
    pub fn always(op: Op, key_contains: &str) -> Self {
        Rule {
            op,
            key_contains: key_contains.to_string(),
            times: None,
            fault: Fault::Error,
        }
    }

    /// The same rule with another fault.
    pub fn with_fault(self, fault: Fault) -> Self {
        Rule { fault, ..self }
    }

    fn matches(&self, op: Op, keys: &[&str]) -> bool {
        (self.op == Op::Any || self.op == op)
            && self.times != Some(0)
            && keys.iter().any(|k| k.contains(&self.key_contains))
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    calls: Vec<(Op, usize)>,
    injected: usize,
}

/// The remote control of a [`FaultStore`]; clones control the same store.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// A handle with no rules: every call passes through.
    pub fn new() -> Self {
        Faults::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock left plain counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a rule; rules are tried in the order given, the first match
    /// with calls left fires.
    pub fn fail(&self, rule: Rule) {
        self.lock().rules.push(rule);
    }

    /// Removes every rule; counters stay.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Calls of `op` seen so far, failed ones included (`Op::Any`: all).
    pub fn calls(&self, op: Op) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|(o, _)| op == Op::Any || *o == op)
            .map(|(_, n)| n)
            .sum()
    }

    /// Faults injected so far.
    pub fn injected(&self) -> usize {
        self.lock().injected
    }

    /// Counts the call and returns the fault it gets, if any.
    fn check(&self, op: Op, keys: &[&str]) -> Option<Fault> {
        let mut s = self.lock();
        match s.calls.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => s.calls.push((op, 1)),
        }
        let rule = s.rules.iter_mut().find(|r| r.matches(op, keys))?;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        let fault = rule.fault;
        s.injected += 1;
        Some(fault)
    }
}

/// An [`ObjectStore`] that injects the faults its [`Faults`] command.
#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
}

impl FaultStore {
    /// Wraps `inner`; returns the store and the handle commanding it.
    pub fn new(inner: Arc<dyn ObjectStore>) -> (Arc<Self>, Faults) {
        let faults = Faults::new();
        let store = Arc::new(FaultStore {
            inner,
            faults: faults.clone(),
        });
        (store, faults)
    }

    /// Wraps `inner`, commanded by an existing handle (several stores can
    /// share one set of rules).
    pub fn with_faults(inner: Arc<dyn ObjectStore>, faults: Faults) -> Arc<Self> {
        Arc::new(FaultStore { inner, faults })
    }

    /// The handle that arms and counts this store's faults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

fn injected(op: Op, key: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected fault: {op:?} {key}").into(),
    }
}

fn denied(key: &str) -> object_store::Error {
    object_store::Error::PermissionDenied {
        path: key.to_string(),
        source: "injected fault: permission denied".into(),
    }
}

/// Runs `call` under `fault`: fails before, hangs before, or fails after it.
async fn apply<T>(
    fault: Option<Fault>,
    op: Op,
    key: &str,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match fault {
        None => call.await,
        Some(Fault::Error) | Some(Fault::BrokenBody) => Err(injected(op, key)),
        Some(Fault::Denied) => Err(denied(key)),
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            call.await
        }
        Some(Fault::ErrorAfter) => {
            // Whatever the store answered, the caller never hears it.
            let _ = call.await;
            Err(injected(op, key))
        }
    }
}

/// A body that yields its first piece, then breaks off.
fn broken(r: GetResult, key: String) -> GetResult {
    let (meta, range, attributes) = (r.meta.clone(), r.range.clone(), r.attributes.clone());
    let extensions = r.extensions.clone();
    let fail = stream::once(async move { Err(injected(Op::Get, &key)) });
    GetResult {
        payload: GetResultPayload::Stream(r.into_stream().take(1).chain(fail).boxed()),
        meta,
        range,
        attributes,
        extensions,
    }
}

fn list_fault_stream(
    fault: Option<Fault>,
    prefix: String,
    inner: BoxStream<'static, Result<ObjectMeta>>,
) -> BoxStream<'static, Result<ObjectMeta>> {
    match fault {
        None => inner,
        Some(Fault::Error) | Some(Fault::ErrorAfter) => {
            stream::once(async move { Err(injected(Op::List, &prefix)) }).boxed()
        }
        Some(Fault::Denied) => stream::once(async move { Err(denied(&prefix)) }).boxed(),
        Some(Fault::BrokenBody) => inner
            .take(1)
            .chain(stream::once(
                async move { Err(injected(Op::List, &prefix)) },
            ))
            .boxed(),
        // The listing starts only once the hang is over.
        Some(Fault::Hang(d)) => stream::once(tokio::time::sleep(d))
            .filter_map(|()| futures::future::ready(None))
            .chain(inner)
            .boxed(),
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let key = location.as_ref();
        let fault = self.faults.check(Op::Put, &[key]);
        apply(
            fault,
            Op::Put,
            key,
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let key = location.as_ref();
        let fault = self.faults.check(Op::PutMultipart, &[key]);
        let inner = apply(
            fault,
            Op::PutMultipart,
            key,
            self.inner.put_multipart_opts(location, opts),
        )
        .await?;
        Ok(Box::new(FaultUpload {
            inner,
            key: key.to_string(),
            faults: self.faults.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let key = location.as_ref();
        let op = if options.head { Op::Head } else { Op::Get };
        let fault = self.faults.check(op, &[key]);
        if fault == Some(Fault::BrokenBody) && op == Op::Get {
            let r = self.inner.get_opts(location, options).await?;
            return Ok(broken(r, key.to_string()));
        }
        apply(fault, op, key, self.inner.get_opts(location, options)).await
    }

    // Ranges and heads arrive here as `get_opts` (object_store's
    // `ObjectStoreExt`), deletes as `delete_stream`: one check per key.
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (inner, faults) = (self.inner.clone(), self.faults.clone());
        locations
            .then(move |location| {
                let (inner, faults) = (inner.clone(), faults.clone());
                async move {
                    let location = location?;
                    let key = location.as_ref();
                    let fault = faults.check(Op::Delete, &[key]);
                    apply(fault, Op::Delete, key, inner.delete(&location)).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let p = prefix.map(|p| p.to_string()).unwrap_or_default();
        let fault = self.faults.check(Op::List, &[&p]);
        list_fault_stream(fault, p, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let p = prefix.map(|p| p.to_string()).unwrap_or_default();
        let fault = self.faults.check(Op::List, &[&p]);
        list_fault_stream(fault, p, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let p = prefix.map(|p| p.to_string()).unwrap_or_default();
        let fault = self.faults.check(Op::List, &[&p]);
        apply(fault, Op::List, &p, self.inner.list_with_delimiter(prefix)).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let fault = self.faults.check(Op::Copy, &[from.as_ref(), to.as_ref()]);
        apply(
            fault,
            Op::Copy,
            to.as_ref(),
            self.inner.copy_opts(from, to, options),
        )
        .await
    }

    // One call to the store, counted as a copy; the trait's default would
    // be a copy and a delete, checked (and failed) separately.
    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let fault = self.faults.check(Op::Copy, &[from.as_ref(), to.as_ref()]);
        apply(
            fault,
            Op::Copy,
            to.as_ref(),
            self.inner.rename_opts(from, to, options),
        )
        .await
    }
}

/// A multipart upload whose parts and completion obey the same rules
/// (`Op::PutMultipart`).
#[derive(Debug)]
struct FaultUpload {
    inner: Box<dyn MultipartUpload>,
    key: String,
    faults: Faults,
}

#[async_trait]
impl MultipartUpload for FaultUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let key = self.key.clone();
        match self.faults.check(Op::PutMultipart, &[&key]) {
            None => self.inner.put_part(data),
            Some(Fault::Error) | Some(Fault::BrokenBody) => {
                Box::pin(async move { Err(injected(Op::PutMultipart, &key)) })
            }
            Some(Fault::Denied) => Box::pin(async move { Err(denied(&key)) }),
            Some(Fault::ErrorAfter) => {
                let part = self.inner.put_part(data);
                Box::pin(async move {
                    let _ = part.await;
                    Err(injected(Op::PutMultipart, &key))
                })
            }
            Some(Fault::Hang(d)) => {
                let part = self.inner.put_part(data);
                Box::pin(async move {
                    tokio::time::sleep(d).await;
                    part.await
                })
            }
        }
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let fault = self.faults.check(Op::PutMultipart, &[&self.key]);
        apply(fault, Op::PutMultipart, &self.key, self.inner.complete()).await
    }

    async fn abort(&mut self) -> Result<()> {
        // Aborting is how callers clean up after faults; it never fails.
        self.inner.abort().await
    }
}

/// Calls of every kind seen so far, for messages in failing tests.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        write!(f, "{} faults injected; calls:", s.injected)?;
        for op in OPS {
            if let Some((_, n)) = s.calls.iter().find(|(o, _)| *o == op) {
                write!(f, " {op:?}={n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn store() -> (Arc<FaultStore>, Faults) {
        FaultStore::new(Arc::new(InMemory::new()))
    }

    #[tokio::test]
    async fn rules_fire_the_given_number_of_times() {
        let (s, f) = store();
        let p = Path::from("a/b");
        f.fail(Rule::error(Op::Put, "a/", 2));
        assert!(s.put(&p, "x".into()).await.is_err());
        assert!(s.put(&p, "x".into()).await.is_err());
        s.put(&p, "x".into()).await.unwrap();
        assert_eq!(f.calls(Op::Put), 3);
        assert_eq!(f.injected(), 2);
        f.fail(Rule::always(Op::Any, "b"));
        for _ in 0..3 {
            let e = s.get(&p).await.unwrap_err();
            assert!(matches!(e, object_store::Error::Generic { .. }), "{e}");
        }
        // Other keys pass.
        assert!(matches!(
            s.get(&Path::from("c")).await,
            Err(object_store::Error::NotFound { .. })
        ));
        f.clear();
        assert_eq!(s.get(&p).await.unwrap().bytes().await.unwrap(), "x");
        assert_eq!(f.calls(Op::Get), 5);
        assert_eq!(f.injected(), 5);
    }

    #[tokio::test]
    async fn error_after_lands_the_write() {
        let (s, f) = store();
        let p = Path::from("k");
        f.fail(Rule::error(Op::Put, "k", 1).with_fault(Fault::ErrorAfter));
        assert!(s.put(&p, "v".into()).await.is_err());
        assert_eq!(s.get(&p).await.unwrap().bytes().await.unwrap(), "v");
    }

    #[tokio::test(start_paused = true)]
    async fn hang_delays_the_call() {
        let (s, f) = store();
        let p = Path::from("k");
        f.fail(Rule::error(Op::Head, "k", 1).with_fault(Fault::Hang(Duration::from_secs(60))));
        let start = tokio::time::Instant::now();
        assert!(tokio::time::timeout(Duration::from_secs(1), s.head(&p))
            .await
            .is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert!(matches!(
            s.head(&p).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn broken_body_and_listing() {
        let (s, f) = store();
        s.put(&Path::from("d/1"), "one".into()).await.unwrap();
        s.put(&Path::from("d/2"), "two".into()).await.unwrap();
        f.fail(Rule::error(Op::Get, "d/1", 1).with_fault(Fault::BrokenBody));
        assert!(s
            .get(&Path::from("d/1"))
            .await
            .unwrap()
            .bytes()
            .await
            .is_err());
        f.fail(Rule::error(Op::List, "d", 1).with_fault(Fault::BrokenBody));
        let r: Vec<_> = s.list(Some(&Path::from("d"))).collect().await;
        assert_eq!(r.len(), 2);
        assert!(r[0].is_ok() && r[1].is_err());
        let r: Vec<_> = s.list(Some(&Path::from("d"))).collect().await;
        assert!(r.iter().all(|x| x.is_ok()) && r.len() == 2);
    }

    #[tokio::test]
    async fn deletes_and_renames_fail_on_command() {
        let (s, f) = store();
        let (a, b) = (Path::from("x/a"), Path::from("x/b"));
        s.put(&a, "v".into()).await.unwrap();
        f.fail(Rule::error(Op::Delete, "x/a", 1));
        assert!(s.delete(&a).await.is_err());
        assert!(s.head(&a).await.is_ok(), "a failed delete must not land");
        f.fail(Rule::error(Op::Copy, "x/b", 1).with_fault(Fault::ErrorAfter));
        assert!(s.rename(&a, &b).await.is_err());
        assert!(s.head(&b).await.is_ok(), "the rename landed");
        assert!(matches!(
            s.head(&a).await,
            Err(object_store::Error::NotFound { .. })
        ));
        // A rename is one call, not a copy and a delete.
        assert_eq!((f.calls(Op::Copy), f.calls(Op::Delete)), (1, 1));
        f.fail(Rule::error(Op::Delete, "x/b", 1).with_fault(Fault::Denied));
        assert!(matches!(
            s.delete(&b).await,
            Err(object_store::Error::PermissionDenied { .. })
        ));
        s.delete(&b).await.unwrap();
        assert_eq!((f.calls(Op::Delete), f.injected()), (3, 3));
    }

    #[tokio::test]
    async fn multipart_parts_fail_on_command() {
        let (s, f) = store();
        let p = Path::from("big");
        f.fail(Rule::error(Op::PutMultipart, "big", 1));
        assert!(s.put_multipart(&p).await.is_err());
        let mut up = s.put_multipart(&p).await.unwrap();
        f.fail(Rule::error(Op::PutMultipart, "big", 1));
        assert!(up.put_part("abc".into()).await.is_err());
        up.abort().await.unwrap();
        assert!(s.head(&p).await.is_err());
        assert_eq!(f.calls(Op::PutMultipart), 3);
        assert!(f.to_string().contains("PutMultipart=3"), "{f}");
    }
}
