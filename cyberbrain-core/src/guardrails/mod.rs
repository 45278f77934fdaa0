//! The privacy guardrails that are pure functions: G1 endpoint locality, G6 redaction and G8
//! artifact path safety. Engines and hosts call these; each has table-driven tests.

pub mod locality;
pub mod paths;
pub mod redaction;
