//! The Kubernetes manifests in `jobs/` against Kubernetes and against the
//! binary they run.
//!
//! Every overlay is rendered with `kubectl kustomize` and validated offline
//! (strict: unknown fields are errors) by `jobs/test/validate.py`, which uses
//! the schemas shipped inside the PyPI package `kubernetes-validate`. The
//! rendered containers' arguments are then checked against the binary
//! itself: every flag must be listed by `blocksconvert <cmd> --help`, and
//! the whole argument list, with `$(VAR)` expanded as the kubelet would,
//! must get through clap's parsing (names, arity and values). The example
//! alert rules are checked with promtool, and their metric names against a
//! running scheduler's `/metrics`.
//!
//! Not covered here: applying to a cluster, or running the image (no
//! Docker engine or cluster exists on the test machines).
//!
//! Tools missing (kubectl, the validator, promtool) skip the tests that need
//! them with a message, or fail them when BLOCKSCONVERT_TEST_REQUIRE_TOOLS
//! is set.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_blocksconvert");
const OVERLAYS: &[&str] = &["gcs-bigtable", "s3-dynamodb", "prometheus-blocks"];
/// What the scheduler's Service and probes expect it to listen on.
const SCHEDULER_PORT: i64 = 9120;
/// The rule the manifests follow (jobs/README.md, "Memory").
const MEMORY_HEADROOM: u64 = 256 << 20;
/// The Dockerfile's user; the manifests must run as the same uid.
const IMAGE_UID: i64 = 10001;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Skips (returns false) or, with BLOCKSCONVERT_TEST_REQUIRE_TOOLS, fails.
fn tool_missing(what: &str) -> bool {
    assert!(
        std::env::var_os("BLOCKSCONVERT_TEST_REQUIRE_TOOLS").is_none(),
        "{what} is required (run scripts/install-test-deps.sh)"
    );
    eprintln!("skipping: {what} not available (run scripts/install-test-deps.sh)");
    false
}

fn kubectl() -> PathBuf {
    std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// The Python that has kubernetes-validate: the project's venv, or $BLOCKSCONVERT_PYTHON.
fn python() -> PathBuf {
    std::env::var_os("BLOCKSCONVERT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

fn runs(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One overlay, rendered and validated: its documents.
struct Rendered {
    overlay: &'static str,
    docs: Vec<Value>,
}

/// Renders and validates every overlay once per test binary; `None` when
/// the tools are missing (and not required). Panics on any invalid overlay.
fn rendered() -> Option<&'static [Rendered]> {
    static CACHE: OnceLock<Option<Vec<Rendered>>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            if !runs(Command::new(kubectl()).args(["version", "--client"])) {
                tool_missing("kubectl");
                return None;
            }
            if !runs(Command::new(python()).args(["-c", "import kubernetes_validate"])) {
                tool_missing("kubernetes-validate (Python package, in .venv)");
                return None;
            }
            Some(OVERLAYS.iter().map(|o| render(o)).collect())
        })
        .as_deref()
}

fn render(overlay: &'static str) -> Rendered {
    let dir = root().join("jobs/overlays").join(overlay);
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("running kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let yaml = tmp.path().join(format!("{overlay}.yaml"));
    std::fs::write(&yaml, &out.stdout).expect("writing rendered YAML");
    let v = Command::new(python())
        .arg(root().join("jobs/test/validate.py"))
        .arg(&yaml)
        .output()
        .expect("running jobs/test/validate.py");
    assert!(
        v.status.success(),
        "overlay {overlay} is not valid Kubernetes:\n{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let docs: Vec<Value> = serde_json::from_slice(&v.stdout).expect("validator prints JSON");
    assert!(!docs.is_empty(), "overlay {overlay} rendered nothing");
    Rendered { overlay, docs }
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("")
}

fn find<'a>(docs: &'a [Value], k: &str, prefix: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| kind(d) == k && name(d).starts_with(prefix))
}

/// The pod spec of a Job or Deployment.
fn pod_spec(doc: &Value) -> Option<&Value> {
    matches!(kind(doc), "Job" | "Deployment").then(|| &doc["spec"]["template"]["spec"])
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| s.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every container of every workload: (overlay, workload, container).
fn containers(r: &Rendered) -> Vec<(String, &Value, &Value)> {
    let mut out = Vec::new();
    for doc in &r.docs {
        if let Some(spec) = pod_spec(doc) {
            for c in spec["containers"].as_array().into_iter().flatten() {
                let what = format!("{}: {} {}/{}", r.overlay, kind(doc), name(doc), c["name"]);
                out.push((what, doc, c));
            }
        }
    }
    out
}

/// The container's environment as the kubelet builds it for `$(VAR)`
/// expansion: envFrom ConfigMaps (found in the rendered output), then env
/// values. Secrets are not expanded into args by our manifests.
fn environment(docs: &[Value], c: &Value) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        if let Some(cm) = from["configMapRef"]["name"].as_str() {
            let map = docs
                .iter()
                .find(|d| kind(d) == "ConfigMap" && name(d) == cm)
                .unwrap_or_else(|| panic!("envFrom names ConfigMap {cm}, which is not rendered"));
            for (k, v) in map["data"].as_object().into_iter().flatten() {
                env.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
            env.insert(k.to_string(), v.to_string());
        }
    }
    env
}

/// `$(VAR)` replaced from `env`; an undefined variable is an error (the
/// kubelet would pass it on literally, a silent misconfiguration).
fn expand(arg: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let re = regex::Regex::new(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)").expect("static regex");
    let mut missing = None;
    let out = re.replace_all(arg, |c: &regex::Captures| match env.get(&c[1]) {
        Some(v) => v.clone(),
        None => {
            missing = Some(c[1].to_string());
            String::new()
        }
    });
    match missing {
        Some(v) => Err(format!(
            "$({v}) in {arg:?} is not defined in the container's env"
        )),
        None => Ok(out.into_owned()),
    }
}

#[test]
fn every_overlay_renders_and_validates_offline() {
    let Some(all) = rendered() else { return };
    for r in all {
        for k in [
            "ServiceAccount",
            "Job",
            "Deployment",
            "Service",
            "ConfigMap",
        ] {
            assert!(
                r.docs.iter().any(|d| kind(d) == k),
                "overlay {} renders no {k}",
                r.overlay
            );
        }
    }
}

#[test]
fn workloads_run_the_image_as_the_non_root_user() {
    let Some(all) = rendered() else { return };
    let image = format!(
        "ghcr.io/blocksconvert/blocksconvert:{}",
        env!("CARGO_PKG_VERSION")
    );
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.contains(&format!("USER {IMAGE_UID}:{IMAGE_UID}")),
        "the Dockerfile's user is not uid {IMAGE_UID}"
    );
    for r in all {
        for doc in &r.docs {
            let Some(spec) = pod_spec(doc) else { continue };
            let what = format!("{}: {} {}", r.overlay, kind(doc), name(doc));
            assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{what}");
            assert_eq!(spec["securityContext"]["runAsUser"], IMAGE_UID, "{what}");
            assert_eq!(spec["serviceAccountName"], "blocksconvert", "{what}");
        }
        for (what, _, c) in containers(r) {
            assert_eq!(c["image"], image.as_str(), "{what}");
            assert_eq!(
                c["securityContext"]["allowPrivilegeEscalation"], false,
                "{what}"
            );
            assert_eq!(
                c["securityContext"]["readOnlyRootFilesystem"], true,
                "{what}"
            );
        }
    }
}

/// `--memory-budget` as the binary reads it (binary units; `M` is MiB).
fn budget_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

/// A Kubernetes memory quantity (integers only, which is what we write).
fn quantity_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let mult: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

#[test]
fn memory_requests_are_the_budget_plus_headroom() {
    let Some(all) = rendered() else { return };
    let mut budgeted = 0;
    for r in all {
        for (what, _, c) in containers(r) {
            let args = strings(&c["args"]);
            let Some(i) = args.iter().position(|a| a == "--memory-budget") else {
                continue;
            };
            budgeted += 1;
            let budget = args
                .get(i + 1)
                .and_then(|b| budget_bytes(b))
                .unwrap_or_else(|| panic!("{what}: --memory-budget needs a literal size"));
            let req = c["resources"]["requests"]["memory"]
                .as_str()
                .and_then(quantity_bytes)
                .unwrap_or_else(|| panic!("{what}: no memory request"));
            let lim = c["resources"]["limits"]["memory"]
                .as_str()
                .and_then(quantity_bytes)
                .unwrap_or_else(|| panic!("{what}: no memory limit"));
            assert_eq!(
                req,
                budget + MEMORY_HEADROOM,
                "{what}: memory request must be --memory-budget + 256Mi"
            );
            assert!(lim >= req, "{what}: memory limit below the request");
        }
    }
    assert!(
        budgeted >= 2 * all.len(),
        "scanner and builders must set --memory-budget"
    );
}

#[test]
fn builders_are_a_parallel_job_with_a_work_dir() {
    let Some(all) = rendered() else { return };
    for r in all {
        let job = find(&r.docs, "Job", "blocksconvert-builders")
            .unwrap_or_else(|| panic!("{}: no builders Job", r.overlay));
        let n = job["spec"]["parallelism"].as_i64().unwrap_or(1);
        assert!(n > 1, "{}: builders parallelism {n}", r.overlay);
        let completions = &job["spec"]["completions"];
        assert!(
            completions.is_null() || completions.as_i64() == Some(n),
            "{}: builders completions must be unset or equal to parallelism",
            r.overlay
        );
        let spec = &job["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        let args = strings(&c["args"]);
        assert_eq!(args.first().map(String::as_str), Some("build"));
        assert!(
            args.iter().any(|a| a == "--once"),
            "{}: builders without --once",
            r.overlay
        );
        let wd = args
            .iter()
            .position(|a| a == "--work-dir")
            .and_then(|i| args.get(i + 1));
        let wd = wd.unwrap_or_else(|| panic!("{}: builders without --work-dir", r.overlay));
        let mount = c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"].as_str() == Some(wd.as_str()))
            .unwrap_or_else(|| panic!("{}: nothing mounted at --work-dir {wd}", r.overlay));
        let vol = spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == mount["name"])
            .expect("the work volume");
        assert!(
            vol.get("emptyDir").is_some() || vol.get("ephemeral").is_some(),
            "{}: the work dir must be node-local scratch space",
            r.overlay
        );
    }
}

#[test]
fn scheduler_serves_status_through_its_service() {
    let Some(all) = rendered() else { return };
    for r in all {
        let dep = find(&r.docs, "Deployment", "blocksconvert-scheduler")
            .unwrap_or_else(|| panic!("{}: no scheduler Deployment", r.overlay));
        let c = &dep["spec"]["template"]["spec"]["containers"][0];
        let args = strings(&c["args"]);
        assert_eq!(args.first().map(String::as_str), Some("schedule"));
        let listen = args
            .iter()
            .position(|a| a == "--listen")
            .and_then(|i| args.get(i + 1));
        assert_eq!(
            listen.map(String::as_str),
            Some("0.0.0.0:9120"),
            "{}",
            r.overlay
        );
        let port = c["ports"][0].clone();
        assert_eq!(port["containerPort"], SCHEDULER_PORT);
        for probe in ["readinessProbe", "livenessProbe"] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], "/status", "{}: {probe}", r.overlay);
            assert!(get["port"] == port["name"] || get["port"] == SCHEDULER_PORT);
        }
        let svc = find(&r.docs, "Service", "blocksconvert-scheduler")
            .unwrap_or_else(|| panic!("{}: no scheduler Service", r.overlay));
        assert_eq!(svc["spec"]["ports"][0]["port"], SCHEDULER_PORT);
        let labels = &dep["spec"]["template"]["metadata"]["labels"];
        for (k, v) in svc["spec"]["selector"].as_object().expect("a selector") {
            assert_eq!(
                &labels[k], v,
                "{}: Service selector misses the scheduler",
                r.overlay
            );
        }
    }
}

#[test]
fn cortex_overlays_carry_a_config_the_binary_reads() {
    use cortex::{CortexConfig, IndexStore};
    let Some(all) = rendered() else { return };
    for (overlay, want) in [("gcs-bigtable", "bigtable"), ("s3-dynamodb", "aws-dynamo")] {
        let r = all
            .iter()
            .find(|r| r.overlay == overlay)
            .expect("overlay rendered");
        let cm = find(&r.docs, "ConfigMap", "blocksconvert-cortex")
            .unwrap_or_else(|| panic!("{overlay}: no blocksconvert-cortex ConfigMap"));
        let yaml = cm["data"]["cortex.yaml"].as_str().expect("cortex.yaml key");
        let cfg = CortexConfig::parse(yaml).unwrap_or_else(|e| panic!("{overlay}: {e}"));
        cfg.schema
            .validate()
            .unwrap_or_else(|e| panic!("{overlay}: {e}"));
        for p in &cfg.schema.configs {
            assert!(
                p.schema.is_supported(),
                "{overlay}: schema {:?} cannot be read",
                p.schema
            );
        }
        let period = cfg.schema.configs.first().expect("a schema period");
        assert!(
            period.store.starts_with(want),
            "{overlay}: store {}",
            period.store
        );
        assert!(!matches!(period.index_store(), IndexStore::Other(_)));
        // The scanner and builders both mount it where --source points.
        for job in ["blocksconvert-scanner", "blocksconvert-builders"] {
            let doc = find(&r.docs, "Job", job).expect("job rendered");
            let c = &doc["spec"]["template"]["spec"]["containers"][0];
            let env = environment(&r.docs, c);
            let args: Vec<String> = strings(&c["args"])
                .iter()
                .map(|a| expand(a, &env).expect("defined"))
                .collect();
            assert!(
                args.iter()
                    .any(|a| a == "cortex:/etc/blocksconvert/cortex.yaml"),
                "{overlay}: {job} does not read the Cortex config: {args:?}"
            );
            let mounted = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == "/etc/blocksconvert");
            assert!(mounted, "{overlay}: {job} does not mount the Cortex config");
        }
    }
    let prom = all
        .iter()
        .find(|r| r.overlay == "prometheus-blocks")
        .expect("rendered");
    assert!(find(&prom.docs, "ConfigMap", "blocksconvert-cortex").is_none());
    // Builders read only blocks under the roots the scan took.
    let scanner = find(&prom.docs, "Job", "blocksconvert-scanner").expect("scanner rendered");
    let builders = find(&prom.docs, "Job", "blocksconvert-builders").expect("builders rendered");
    let source_arg = |doc: &Value| {
        let c = &doc["spec"]["template"]["spec"]["containers"][0];
        let env = environment(&prom.docs, c);
        let args: Vec<String> = strings(&c["args"])
            .iter()
            .map(|a| expand(a, &env).expect("defined"))
            .collect();
        args.windows(2)
            .find(|w| w[0] == "--source")
            .map(|w| w[1].clone())
    };
    let scanned = source_arg(scanner).expect("the scanner takes --source");
    assert!(scanned.starts_with("prometheus:"), "{scanned}");
    assert_eq!(
        source_arg(builders).as_deref(),
        Some(scanned.as_str()),
        "prometheus-blocks: builders must get the scan's --source"
    );
}

/// The long flags `blocksconvert <cmd> --help` lists, and whether each takes a value.
fn accepted_flags(cmd: &str) -> BTreeMap<String, bool> {
    let out = Command::new(BIN)
        .args([cmd, "--help"])
        .output()
        .expect("running blocksconvert --help");
    assert!(
        out.status.success(),
        "blocksconvert {cmd} --help failed: is `{cmd}` a subcommand?"
    );
    let re = regex::Regex::new(r"^\s+(?:-\w, )?(--[a-z0-9][a-z0-9-]*)(\s+<[^>]+>)?")
        .expect("static regex");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| re.captures(l))
        .map(|c| (c[1].to_string(), c.get(2).is_some()))
        .collect()
}

#[test]
fn every_flag_in_the_manifests_is_one_the_binary_accepts() {
    let Some(all) = rendered() else { return };
    let mut problems = BTreeSet::new();
    let mut checked = 0;
    for r in all {
        for (what, _, c) in containers(r) {
            // The image's ENTRYPOINT is the binary: args start with the subcommand.
            assert!(
                c.get("command").is_none(),
                "{what}: command overrides the entrypoint"
            );
            let env = environment(&r.docs, c);
            let mut args = Vec::new();
            for a in strings(&c["args"]) {
                match expand(&a, &env) {
                    Ok(x) => args.push(x),
                    Err(e) => {
                        problems.insert(format!("{what}: {e}"));
                    }
                }
            }
            let Some((cmd, rest)) = args.split_first() else {
                problems.insert(format!("{what}: no args"));
                continue;
            };
            let flags = accepted_flags(cmd);
            let mut i = 0;
            while i < rest.len() {
                let (flag, inline) = match rest[i].split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v)),
                    _ => (rest[i].clone(), None),
                };
                match flags.get(&flag) {
                    None if flag.starts_with("--") => {
                        problems.insert(format!(
                            "blocksconvert {cmd} does not accept {flag} ({what})"
                        ));
                    }
                    None => {
                        problems.insert(format!("{what}: unexpected argument {flag:?}"));
                    }
                    Some(true) if inline.is_none() => i += 1,
                    Some(false) if inline.is_some() => {
                        problems.insert(format!("{what}: {flag} takes no value"));
                    }
                    Some(_) => {}
                }
                i += 1;
            }
            // All of it through clap: values must parse too. `--help` last
            // stops before anything runs (and before required-flag checks).
            let out = Command::new(BIN)
                .args(&args)
                .arg("--help")
                .output()
                .expect("running blocksconvert");
            if !out.status.success() {
                problems.insert(format!(
                    "{what}: blocksconvert rejects {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .unwrap_or("")
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 3 * all.len(), "too few containers checked");
    assert!(
        problems.is_empty(),
        "manifests and binary disagree:\n  {}",
        problems.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

fn promtool_or_skip() -> bool {
    runs(Command::new("promtool").arg("--version")) || tool_missing("promtool")
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    if !promtool_or_skip() {
        return;
    }
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root().join("jobs/alerts.yaml"))
        .output()
        .expect("running promtool");
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let test = Command::new("promtool")
        .args(["test", "rules", "alerts_test.yaml"])
        .current_dir(root().join("jobs/test"))
        .output()
        .expect("running promtool");
    assert!(
        test.status.success(),
        "promtool test rules: {}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
}

/// A scheduler process, killed on drop.
struct Scheduler(Child);

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` over HTTP/1.0: (status code, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

#[test]
fn alert_rules_use_metrics_the_scheduler_serves() {
    let rules = std::fs::read_to_string(root().join("jobs/alerts.yaml")).expect("alerts.yaml");
    let names: BTreeSet<String> = regex::Regex::new(r"blocksconvert_[a-z_]+")
        .expect("static regex")
        .find_iter(&rules)
        .map(|m| m.as_str().to_string())
        .collect();
    assert!(
        !names.is_empty(),
        "alerts.yaml uses no blocksconvert metric"
    );

    let bucket = tempfile::tempdir().expect("temp dir");
    let port = testkit::emulators::free_port().expect("a free port");
    let _sched = Scheduler(
        Command::new(BIN)
            .arg("schedule")
            .arg("--bucket")
            .arg(bucket.path())
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--scan-interval",
                "1s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the scheduler"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        // Gauges appear once the first listing is done.
        if let Ok((200, body)) = http_get(port, "/metrics") {
            if body.contains("blocksconvert_scheduler_plans{") {
                break body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "scheduler served no plan metrics within 60s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let served: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !served.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts.yaml uses metrics the scheduler does not serve: {missing:?}\nserved: {served:?}"
    );
    // The probes' path answers.
    let (code, _) = http_get(port, "/status").expect("GET /status");
    assert_eq!(code, 200, "the probes' /status");
}
