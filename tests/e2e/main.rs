//! End-to-end tests: the real `cyberbrain` binary serving on a free port with a temporary data
//! directory, driven over REST, by the official Python MCP client, and by headless Chromium.
//!
//! `./scripts/test` installs the components and sets the variables these tests read:
//! `CYBERBRAIN_BIN` (the server binary), `CYBERBRAIN_PYTHON` (the venv with `mcp`),
//! `CYBERBRAIN_NODE` + `NODE_PATH` (playwright-core), `CYBERBRAIN_CHROMIUM`, and
//! `CYBERBRAIN_E2E_OUT` (where screenshots are kept). A missing component fails the test with the
//! command that installs it; nothing is skipped.

mod components;
mod embedded_default;
mod http;
mod mcp;
mod rest;
mod server;
mod webui;
