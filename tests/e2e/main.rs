//! End-to-end tests: the real `cyberbrain` binary serving on a free port with a temporary data
//! directory, driven over REST, by the official Python MCP client, and by headless Chromium.
//!
//! `./scripts/test` installs the components and sets the variables these tests read:
//! `CYBERBRAIN_BIN` (the server binary), `CYBERBRAIN_PYTHON` (the venv with `mcp`),
//! `CYBERBRAIN_NODE` + `NODE_PATH` (playwright-core), `CYBERBRAIN_CHROMIUM`, and
//! `CYBERBRAIN_E2E_OUT` (where screenshots are kept), and `CYBERBRAIN_TEST_PG_URL` (the Postgres
//! cluster the REST scenarios also run against). A missing component fails the test with the
//! command that installs it; nothing is skipped.

/// Runs each named scenario `async fn name(backend: Backend)` against both stores, as the tests
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                super::$scenario($crate::server::Backend::Sqlite).await
            }

            #[tokio::test]
            async fn postgres() {
                super::$scenario($crate::server::Backend::Postgres).await
            }
        }
    )*};
}

mod build_plan;
mod canary;
mod components;
mod embedded_default;
mod http;
mod mcp;
mod rag;
mod rest;
mod runs;
mod scheduler;
mod server;
mod webui;
