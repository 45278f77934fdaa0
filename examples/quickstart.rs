//! Quickstart: open the embedded SQLite store and list the built-in directives.
//!
//! ```sh
//! cargo run --example quickstart            # uses a temporary database
//! cargo run --example quickstart -- my.db   # or a database of your own
//! ```

use cyberbrain::domain::PageRequest;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(path) => path,
        None => scratch.path().join("quickstart.db").display().to_string(),
    };
    let cb = cyberbrain::open(&format!("sqlite://{path}"), cyberbrain::Config::default()).await?;

    println!("Directives in {path}:");
    for directive in cb.list_directives(PageRequest::first(200)).await?.items {
        let approval = if directive.approval_required {
            "approval required"
        } else {
            "no approval"
        };
        println!(
            "  #{:<2} {:<4} {:<30} v{} ({approval})",
            directive.id, directive.directive_type, directive.name, directive.version
        );
    }
    Ok(())
}
