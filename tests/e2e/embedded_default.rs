//! With no configuration at all, `cyberbrain serve` uses ./cyberbrain-data/ and 127.0.0.1:9595.

use std::net::TcpListener;

use crate::http::{Api, results};
use crate::server::Server;

#[tokio::test]
async fn unconfigured_serve_uses_the_embedded_default() {
    // This is the one test on the fixed default port; a developer's own server may hold it.
    match TcpListener::bind("127.0.0.1:9595") {
        Ok(probe) => drop(probe),
        Err(e) => panic!(
            "port 127.0.0.1:9595 is already in use ({e}); this test starts `cyberbrain serve` with no \
             configuration, which must bind exactly that port. Stop the server holding it (e.g. a \
             ./scripts/run) and rerun."
        ),
    }
    let work_dir = tempfile::tempdir().expect("temp working directory");
    let home = tempfile::tempdir().expect("temp home");

    let server = Server::start_unconfigured(work_dir.path(), home.path())
        .await
        .unwrap_or_else(|log| {
            panic!("unconfigured `cyberbrain serve` did not come up on 127.0.0.1:9595:\n{log}")
        });
    let api = Api::new(&server);
    let page = api
        .get("/api/directives/")
        .await
        .expect(200, "GET /api/directives/");
    assert_eq!(
        results(&page).len(),
        5,
        "the embedded store is migrated and seeded: {page}"
    );

    let data_dir = work_dir.path().join("cyberbrain-data");
    assert!(
        data_dir.is_dir(),
        "serve must create ./cyberbrain-data/ in its working directory"
    );
    let database = data_dir.join("cyberbrain.db");
    assert!(
        database.is_file(),
        "the SQLite database must be ./cyberbrain-data/cyberbrain.db; found {:?}",
        list(&data_dir)
    );
    drop(server);
    assert!(database.is_file(), "the database outlives the server");
}

fn list(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
