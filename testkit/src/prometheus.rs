//! Runs a real `prometheus` server (2.42, the Debian package) over a data
//! directory, so tests can ask the reference implementation itself: range
//! queries, and the admin API (`delete_series`, `snapshot`) that leaves
//! tombstones and snapshot directories behind as users produce them.
//!
//! The server binds 127.0.0.1 on a free port, logs to `<data>.log`, reads
//! its config from `<data>.yml`, and is killed (SIGKILL) when dropped
//! unless [`Prometheus::stop`] stopped it cleanly first. HTTP is plain
//! HTTP/1.0 over a socket: no client crate for a handful of requests.
//!
//! Not for production code: nothing here is linked into the binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A config without scrapes: the server only serves what is on disk.
pub const NO_SCRAPES: &str = "global:\n  scrape_interval: 1m\n";

/// Flags that keep Prometheus from compacting blocks (only 2h ranges), so
/// tombstones stay in the blocks they were written to.
pub const NO_COMPACTION: [&str; 2] = [
    "--storage.tsdb.min-block-duration=2h",
    "--storage.tsdb.max-block-duration=2h",
];

/// Whether `prometheus` is on the `PATH`.
pub fn available() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a test needing both `promtool` and `prometheus` should run:
/// skips (prints why, returns false) when either is missing, fails when
/// tools are required.
pub fn tools_or_skip() -> bool {
    if crate::promtool::available() && available() {
        return true;
    }
    assert!(
        !crate::emulators::tools_required(),
        "promtool and prometheus are required (run scripts/install-test-deps.sh)"
    );
    eprintln!("skipping: promtool or prometheus not installed");
    false
}

/// A running `prometheus`; killed on drop unless stopped.
pub struct Prometheus {
    child: Option<Child>,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    data: PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` over `data` with `config` (every `PORT` in it
    /// replaced by the server's port), retention of 100 years (source data
    /// is old) and `extra` flags; waits until `/-/ready` answers 200.
    pub fn start(data: &Path, config: &str, extra: &[&str]) -> Result<Prometheus> {
        let port = crate::free_port()?;
        let cfg = data.with_extension("yml");
        std::fs::write(&cfg, config.replace("PORT", &port.to_string()))
            .with_context(|| format!("writing {}", cfg.display()))?;
        let log_path = data.with_extension("log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new("prometheus")
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting prometheus")?;
        let p = Prometheus {
            child: Some(child),
            port,
            data: data.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.get("/-/ready").map_or(true, |(code, _)| code != 200) {
            if Instant::now() > deadline {
                bail!("prometheus not ready after 30 s: {}", p.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(p)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// SIGTERM, then wait: Prometheus closes its TSDB cleanly.
    pub fn stop(mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status()
                .context("running kill")?;
            if !status.success() {
                bail!("kill -TERM {} failed", c.id());
            }
            c.wait().context("waiting for prometheus")?;
        }
        Ok(())
    }

    /// GET `path` (with its query string); the status code and body.
    pub fn get(&self, path: &str) -> Result<(u16, String)> {
        request(self.port, "GET", path, "")
    }

    /// POST `path` with a form body (`a=1&b=2`, already URL-encoded).
    pub fn post_form(&self, path: &str, form: &str) -> Result<(u16, String)> {
        request(self.port, "POST", path, form)
    }

    /// `/api/v1/admin/tsdb/delete_series` for the series matching any of
    /// `matchers`, between `start_ms` and `end_ms` (both inclusive, whole
    /// history when `None`). Needs `--web.enable-admin-api`.
    pub fn delete_series(&self, matchers: &[&str], range: Option<(i64, i64)>) -> Result<()> {
        let mut form: Vec<String> = matchers
            .iter()
            .map(|m| format!("match[]={}", urlencode(m)))
            .collect();
        if let Some((start, end)) = range {
            form.push(format!("start={}", seconds(start)));
            form.push(format!("end={}", seconds(end)));
        }
        let (code, body) = self.post_form("/api/v1/admin/tsdb/delete_series", &form.join("&"))?;
        if code != 204 {
            bail!("delete_series {matchers:?} {range:?}: HTTP {code}: {body}");
        }
        Ok(())
    }

    /// `/api/v1/admin/tsdb/snapshot`: the snapshot directory (under
    /// `<data>/snapshots/`), head included.
    pub fn snapshot(&self) -> Result<PathBuf> {
        let (code, body) = self.post_form("/api/v1/admin/tsdb/snapshot", "")?;
        if code != 200 {
            bail!("snapshot: HTTP {code}: {body}");
        }
        // {"status":"success","data":{"name":"20261130T204500Z-1a2b3c"}}
        let name = body
            .split("\"name\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .with_context(|| format!("no snapshot name in {body}"))?;
        Ok(self.data.join("snapshots").join(name))
    }

    /// The JSON body of `/api/v1/query_range` for `query` over
    /// `[start_ms, end_ms]` every `step_s` seconds.
    pub fn query_range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_s: u64,
    ) -> Result<String> {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={step_s}",
            urlencode(query),
            seconds(start_ms),
            seconds(end_ms)
        );
        let (code, body) = self.get(&path)?;
        if code != 200 {
            bail!("query_range {query}: HTTP {code}: {body}");
        }
        Ok(body)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Milliseconds as the seconds with decimals the HTTP API takes.
fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.0 request: the server closes the connection after the body.
fn request(port: u16, method: &str, path: &str, form: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).context("connecting to prometheus")?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n")?;
    if method == "POST" {
        write!(
            s,
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        )?;
    }
    write!(s, "\r\n{form}")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .context("reading the response")?;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status in {resp:?}"))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_matchers_are_encoded_for_the_api() {
        assert_eq!(seconds(1_600_000_000_123), "1600000000.123");
        assert_eq!(seconds(-1), "-0.001");
        assert_eq!(urlencode(r#"m{s="1"}"#), "m%7Bs%3D%221%22%7D");
    }
}
