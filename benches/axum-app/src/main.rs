//! A small web service with a realistic dependency tree, for the container builder's
//! benchmark: `/ping` answers, `/status` answers JSON.

use axum::{routing::get, Json, Router};
use clap::Parser;
use serde::Serialize;

#[derive(Parser)]
struct Args {
    /// The port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
}

#[derive(Serialize)]
struct Status {
    service: &'static str,
    ok: bool,
}

async fn status() -> Json<Status> {
    Json(Status {
        service: "axum-app",
        ok: true,
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .init();
    let args = Args::parse();
    let app = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/status", get(status))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", args.port))
        .await
        .expect("bind");
    tracing::info!(port = args.port, "axum-app: ready");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
