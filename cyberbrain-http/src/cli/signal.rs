//! Graceful stop on SIGINT (Ctrl-C) and SIGTERM (`docker stop`, systemd), shared by the
//! long-running commands.

use std::future::Future;

/// Resolves on the first SIGINT or SIGTERM.
///
/// The handlers are installed when this is *called*, not when the future is first polled:
/// a process that logs "listening" and only then starts awaiting would otherwise die of the
/// default SIGTERM action if the signal came in between.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let install = |kind: SignalKind, name: &'static str| {
            signal(kind)
                .inspect_err(|e| {
                    tracing::error!(error = %e, "cannot listen for {name}; stop the process another way")
                })
                .ok()
        };
        let interrupt = install(SignalKind::interrupt(), "SIGINT");
        let terminate = install(SignalKind::terminate(), "SIGTERM");
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        async move {
            tokio::select! {
                () = received(interrupt) => tracing::info!("interrupted; shutting down"),
                () = received(terminate) => tracing::info!("terminated; shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("interrupted; shutting down"),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for Ctrl-C; stop the process another way");
                std::future::pending::<()>().await;
            }
        }
    }
}
