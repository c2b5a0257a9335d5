//! The scheduler's HTTP endpoints: `/status` (HTML; `?format=json` or
//! `/status.json` for JSON) and `/metrics` (Prometheus text format).
//! They serve the result of the last scan and never touch the bucket, so
//! a busy page cannot slow the campaign.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::metrics::Metrics;
use crate::report::StatusReport;

/// What the endpoints show: replaced after every scan.
#[derive(Clone, Default)]
pub(crate) struct Shared {
    pub(crate) report: Arc<RwLock<StatusReport>>,
    pub(crate) metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct StatusQuery {
    format: Option<String>,
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(status))
        .route("/status", get(status))
        .route("/status.json", get(status_json))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// Binds `addr` (port 0 picks a free one) and serves in a background task.
/// Returns the address bound.
pub(crate) async fn serve(
    addr: SocketAddr,
    shared: Shared,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(shared)).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok((bound, task))
}

fn current(shared: &Shared) -> StatusReport {
    match shared.report.read() {
        Ok(r) => r.clone(),
        // A writer panicked mid-update; the report is still a whole value.
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

async fn status(State(shared): State<Shared>, Query(q): Query<StatusQuery>) -> Response {
    if q.format.as_deref() == Some("json") {
        return status_json(State(shared)).await;
    }
    Html(current(&shared).render_html()).into_response()
}

async fn status_json(State(shared): State<Shared>) -> Response {
    axum::Json(current(&shared)).into_response()
}

async fn metrics(State(shared): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}
