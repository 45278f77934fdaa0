//! Panics of third-party parsers and loaders that core turns into errors (pdf-extract, docx-rs
//! and zip on uploaded files, ort on a broken ONNX Runtime). `catch_unwind` alone stops the
//! unwinding but not the panic hook, which would still print the panic message, possibly quoting
//! the uploaded document, to the process's stderr, outside the redacting log writer. Here the
//! hook stays silent for panics that [`catch`] is about to turn into an error; every other panic
//! goes to the hook that was installed before, unchanged.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls are running on this thread (they may nest).
    static CATCHING: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f`; a panic in it is returned as its message (or "no message") instead of unwinding,
/// and is not printed by the panic hook.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    CATCHING.with(|n| n.set(n.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|n| n.set(n.get() - 1));
    outcome.map_err(|payload| message(payload.as_ref()))
}

/// Wraps the current panic hook once per process so it skips panics [`catch`] handles.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_becomes_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        assert_eq!(
            catch(|| -> () { panic!("bad xref at {}", 42) }),
            Err("bad xref at 42".to_string())
        );
        assert_eq!(
            catch(|| -> () { std::panic::panic_any(5u8) }),
            Err("no message".to_string())
        );
        // Nested: the inner panic is caught, the outer call goes on.
        let nested = catch(|| catch(|| -> () { panic!("inner") }).unwrap_err());
        assert_eq!(nested, Ok("inner".to_string()));
    }

    const CHILD: &str = "CYBERBRAIN_CAUGHT_PANIC_CHILD";

    /// Runs in a child process (see below): one panic through `catch`, one through plain
    /// `catch_unwind`, both carrying a marker.
    #[test]
    fn child_panics_twice() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        assert!(catch(|| -> () { panic!("SILENT-7f3a document text") }).is_err());
        assert!(catch_unwind(|| -> () { panic!("PRINTED-9c1e") }).is_err());
    }

    #[test]
    fn the_panic_hook_is_silent_for_caught_panics_only() {
        let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "caught_panic::tests::child_panics_twice",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(
            stderr.contains("PRINTED-9c1e"),
            "other panics still reach the hook: {stderr}"
        );
        assert!(!stderr.contains("SILENT-7f3a"), "{stderr}");
    }
}
