//! What every handler gets: the SDK handle. Handlers parse input, call one engine method, and
//! render; they never talk to a store directly.

use cyberbrain_core::Cyberbrain;

/// Shared state of the router. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub cb: Cyberbrain,
}

impl AppState {
    pub fn new(cb: Cyberbrain) -> Self {
        Self { cb }
    }
}
