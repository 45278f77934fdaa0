//! Pins the public tool surface: the full `tools/list` reply (names, descriptions, annotations,
//! input schemas) must equal `tests/golden/tools_list.json`. After an intended change, rewrite
//! the file with `UPDATE_GOLDEN=1 cargo test -p cyberbrain-mcp --test golden` and review the diff.

mod common;

use std::path::PathBuf;

use common::{Session, service};
use serde_json::{Value, json};

#[tokio::test]
async fn tools_list_matches_the_golden_file() {
    let (_dir, service) = service().await;
    let mut session = Session::open(service).await;
    let reply = session.request("tools/list", json!({})).await;
    let actual = &reply["result"];
    assert!(actual["tools"].is_array(), "tools/list failed: {reply}");

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tools_list.json");
    let mut pretty = serde_json::to_string_pretty(actual).expect("JSON");
    pretty.push('\n');
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|value| value == "1") {
        std::fs::write(&path, pretty).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; create it with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&expected).expect("the golden file is JSON");
    assert!(
        &expected == actual,
        "tools/list changed; if intended, run `UPDATE_GOLDEN=1 cargo test -p cyberbrain-mcp \
         --test golden` and review the diff.\nactual:\n{pretty}"
    );
}
