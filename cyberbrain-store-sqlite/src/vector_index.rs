//! The approximate nearest-neighbour index over the stored vectors (SPEC §3.6): one hnsw_rs
//! graph (cosine distance) per embedding model, held in memory, persisted beside the database
//! and rebuilt from the `embeddings` table whenever the copy on disk cannot be trusted.
//!
//! Files, for the database `<dir>/<db>`, in the directory `<dir>/<db>.hnsw/`:
//!
//! * `<model>.json`: the metadata of the current dump (the database token and generation it
//!   covers, the highest chunk id it holds, its point count, the folder holding the graph).
//!   Written to a temp file and renamed over the old one, so it is the commit point of a dump.
//! * `<model>.dump-<unique>/index.hnsw.graph` and `index.hnsw.data`: hnsw_rs's `file_dump` output.
//!
//! `<model>` is the model id reduced to `[A-Za-z0-9_-]` plus a hash of the full id.
//!
//! Why it stays right:
//!
//! * Chunk ids come from AUTOINCREMENT and SQLite serialises writers, so a vector committed
//!   later always has a larger chunk id. The graph holds every vector of its model with chunk id
//!   at most `covered`; catching up is inserting the rows above it, whoever wrote them.
//! * Every change to the stored vectors bumps `vector_index_state.generation` in its
//!   transaction. A search compares it with the generation its graph last saw: equal means
//!   nothing changed (one small query per search).
//! * hnsw_rs cannot delete. Deleted chunks stay in the graph until it is rebuilt (when they
//!   pass a fifth of it); searches score every candidate from the database, so a deleted chunk
//!   is never returned.
//! * A dump is used only when its token is this database's, its generation is not ahead of the
//!   database's (an older copy of the file was restored), its graph loads, and the database
//!   holds no more vectors at or below its `covered` than it has points. Otherwise the graph is
//!   rebuilt from the stored vectors. A dump that is merely behind is caught up, not rebuilt.
//! * Dumps are batched (when a quarter of the graph, or five minutes' inserts, is not on disk
//!   yet): a restart loads the last dump and catches up from the database.

use std::collections::HashMap;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use cyberbrain_core::{Error, Result};
use hnsw_rs::prelude::{AnnT, DistCosine, Hnsw, HnswIo};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::error::SqlContext;

/// The dimension of every stored vector.
pub(crate) const DIMENSION: usize = cyberbrain_core::domain::EMBEDDING_DIMENSION;

/// hnsw_rs's graph over one model's vectors; point ids are chunk ids.
type Graph = Hnsw<'static, f32, DistCosine>;

/// Graph parameters: 16 links per node (32 on the bottom layer) and a construction beam of 100,
/// a little above pgvector's defaults (16, 64): near-exact recall@10 on clustered embeddings
/// at a fraction of the insert cost of a wider beam. hnsw_rs's `set_keeping_pruned` stays off:
/// with it, recall@10 on benches/rag_search.rs's clustered data fell from 1.00 to 0.31.
const MAX_CONNECTIONS: usize = 16;
const MAX_LAYERS: usize = 16;
const EF_CONSTRUCTION: usize = 100;

/// The basename hnsw_rs gives the two files of a dump.
const BASENAME: &str = "index";
/// Bumped when the metadata or the way the graph is built changes: older dumps are rebuilt.
/// 2: graphs built without keeping pruned links (format 1's had poor recall).
const FORMAT: u32 = 2;
/// Vectors read per query while building a graph, so a build never holds every vector twice.
const BUILD_BATCH: i64 = 10_000;
/// A dump waits at most this long for more inserts.
const DUMP_INTERVAL: Duration = Duration::from_secs(300);
/// Folders of dumps that never became current (a crash mid-dump) are removed after this.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Where a graph in memory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Loaded from the dump beside the database.
    Loaded,
    /// Built from the stored vectors.
    Built,
}

/// The graphs of one database, one per model, loaded at the first search or write.
pub(crate) struct VectorIndexes {
    dir: PathBuf,
    models: Mutex<HashMap<String, Slot>>,
}

type Slot = Arc<RwLock<Option<ModelIndex>>>;

struct ModelIndex {
    graph: Graph,
    /// The database token and generation the graph was last brought up to date with.
    token: String,
    generation: i64,
    /// Every vector of the model with a chunk id up to this one is in the graph.
    covered: i64,
    points: usize,
    /// Points whose chunk no longer exists, counted when `deletions` last changed.
    dead: usize,
    deletions: i64,
    /// Points in the last dump, and when it was written.
    dumped_points: usize,
    dumped_at: Instant,
    origin: Origin,
}

/// `vector_index_state`, as one snapshot sees it.
struct DbState {
    token: String,
    generation: i64,
    deletions: i64,
}

/// The metadata file of a dump.
#[derive(Debug, Serialize, Deserialize)]
struct DumpMeta {
    format: u32,
    model_id: String,
    dimension: usize,
    database_token: String,
    generation: i64,
    covered_chunk_id: i64,
    points: usize,
    /// The folder beside this file holding `index.hnsw.graph` and `index.hnsw.data`.
    dir: String,
}

/// Candidates from one graph search.
pub(crate) struct Nearest {
    /// Chunk ids, nearest first.
    pub chunk_ids: Vec<i64>,
    /// Points in the graph (live or dead): a wider search cannot find more than this.
    pub points: usize,
}

impl VectorIndexes {
    /// The indexes of the database file `db_path`, kept in `<db_path>.hnsw/`.
    pub(crate) fn new(db_path: &Path) -> Self {
        let name = db_path.file_name().map_or_else(
            || "cyberbrain.db".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self {
            dir: db_path.with_file_name(format!("{name}.hnsw")),
            models: Mutex::new(HashMap::new()),
        }
    }

    /// The folder holding the dumps.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the model's graph in memory came from, if one is loaded.
    #[cfg(test)]
    pub(crate) fn origin(&self, model_id: &str) -> Option<Origin> {
        read(&self.slot(model_id))
            .as_ref()
            .map(|index| index.origin)
    }

    /// The model's graph's points and how many of them are dead, if one is loaded.
    #[cfg(test)]
    pub(crate) fn points(&self, model_id: &str) -> Option<(usize, usize)> {
        read(&self.slot(model_id))
            .as_ref()
            .map(|index| (index.points, index.dead))
    }

    /// The `top_k` nearest points to `query` in the model's graph (restricted to the sorted chunk
    /// ids `allowed` when given), searching with beam `ef`, after bringing the graph up to date
    /// with the snapshot `conn` reads.
    pub(crate) fn nearest(
        &self,
        conn: &Connection,
        model_id: &str,
        query: &[f32],
        (top_k, ef): (usize, usize),
        allowed: Option<&[usize]>,
    ) -> Result<Nearest> {
        let slot = self.sync(conn, model_id)?;
        let guard = read(&slot);
        let Some(index) = guard.as_ref() else {
            return Ok(Nearest {
                chunk_ids: Vec::new(),
                points: 0,
            });
        };
        let filter = allowed.map(|ids| move |id: &usize| ids.binary_search(id).is_ok());
        let found = match &filter {
            Some(filter) => index.graph.search_filter(query, top_k, ef, Some(filter)),
            None => index.graph.search(query, top_k, ef),
        };
        Ok(Nearest {
            chunk_ids: found
                .iter()
                .filter_map(|n| i64::try_from(n.d_id).ok())
                .collect(),
            points: index.points,
        })
    }

    /// Brings the model's graph up to date with the snapshot `conn` reads (after a write).
    pub(crate) fn refresh(&self, conn: &Connection, model_id: &str) -> Result<()> {
        self.sync(conn, model_id).map(drop)
    }

    /// Brings the model's graph up to date with the snapshot `conn` reads: loads or builds it
    /// when this process has none, inserts vectors stored since, rebuilds it when too many of
    /// its points were deleted, and dumps it when enough is not on disk yet.
    fn sync(&self, conn: &Connection, model_id: &str) -> Result<Slot> {
        let state = DbState::read(conn)?;
        let slot = self.slot(model_id);
        if read(&slot).as_ref().is_some_and(|i| i.is_current(&state)) {
            return Ok(slot);
        }
        self.update(conn, model_id, &state, &mut write(&slot))?;
        Ok(slot)
    }

    /// [`Self::sync`] under the model's write lock.
    fn update(
        &self,
        conn: &Connection,
        model_id: &str,
        state: &DbState,
        slot: &mut Option<ModelIndex>,
    ) -> Result<()> {
        if slot.as_ref().is_some_and(|i| i.is_current(state)) {
            return Ok(());
        }
        let index = match slot.take() {
            Some(index) if index.token == state.token => index,
            _ => self.open(conn, model_id, state)?,
        };
        let mut index = catch_up(conn, model_id, index, state)?;
        if index.dead > 0 && index.dead * 5 > index.points {
            tracing::info!(
                model_id,
                points = index.points,
                dead = index.dead,
                "rebuilding the vector index: too many of its chunks were deleted"
            );
            index = build(conn, model_id, state)?;
        }
        self.maybe_dump(model_id, &mut index);
        *slot = Some(index);
        Ok(())
    }

    fn slot(&self, model_id: &str) -> Slot {
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(models.entry(model_id.to_string()).or_default())
    }

    /// The dump beside the database when it can be trusted, else a graph built from the
    /// stored vectors.
    fn open(&self, conn: &Connection, model_id: &str, state: &DbState) -> Result<ModelIndex> {
        match self.load(conn, model_id, state) {
            Ok(index) => return Ok(index),
            Err(why) => {
                tracing::info!(model_id, dir = %self.dir.display(), why, "building the vector index from the stored vectors")
            }
        }
        build(conn, model_id, state)
    }

    /// The dump of `model_id`, or why it cannot be used.
    fn load(
        &self,
        conn: &Connection,
        model_id: &str,
        state: &DbState,
    ) -> std::result::Result<ModelIndex, String> {
        let meta_path = self.meta_path(model_id);
        let meta = read_meta(&meta_path)?;
        if meta.format != FORMAT || meta.model_id != model_id || meta.dimension != DIMENSION {
            return Err(format!(
                "{} is of another format or model",
                meta_path.display()
            ));
        }
        if meta.database_token != state.token {
            return Err("the dump was written for another database".into());
        }
        if meta.generation > state.generation {
            return Err("the dump is newer than the database (an older copy was restored)".into());
        }
        let stored =
            count_up_to(conn, model_id, meta.covered_chunk_id).map_err(|e| e.to_string())?;
        if stored > meta.points {
            return Err(format!(
                "the database holds {stored} vectors the dump should cover, the dump {}",
                meta.points
            ));
        }
        let graph_dir = self.dir.join(&meta.dir);
        // hnsw_rs asserts on malformed files: a panic is an unreadable dump.
        let graph = match catch_unwind(AssertUnwindSafe(|| load_graph(&graph_dir))) {
            Ok(Ok(graph)) => graph,
            Ok(Err(e)) => return Err(format!("cannot read {}: {e}", graph_dir.display())),
            Err(_) => return Err(format!("{} is corrupt", graph_dir.display())),
        };
        if graph.get_nb_point() != meta.points {
            return Err(format!(
                "{} holds {} points, its metadata says {}",
                graph_dir.display(),
                graph.get_nb_point(),
                meta.points
            ));
        }
        Ok(ModelIndex {
            graph,
            token: meta.database_token,
            generation: meta.generation,
            covered: meta.covered_chunk_id,
            points: meta.points,
            dead: meta.points - stored,
            deletions: state.deletions,
            dumped_points: meta.points,
            dumped_at: Instant::now(),
            origin: Origin::Loaded,
        })
    }

    /// Dumps the graph when a quarter of it (or anything, after five minutes) is not on disk, so
    /// a growing graph is written a bounded number of times over. A failed dump is logged: the
    /// graph in memory still serves, and a restart catches up or rebuilds.
    fn maybe_dump(&self, model_id: &str, index: &mut ModelIndex) {
        let undumped = index.points.saturating_sub(index.dumped_points);
        let due = undumped >= (index.dumped_points / 4).max(1)
            || (undumped > 0 && index.dumped_at.elapsed() >= DUMP_INTERVAL)
            || (index.origin == Origin::Built && index.dumped_points == 0 && index.points > 0);
        if !due {
            return;
        }
        match self.dump(model_id, index) {
            Ok(()) => {
                index.dumped_points = index.points;
                index.dumped_at = Instant::now();
            }
            Err(e) => tracing::warn!(
                model_id,
                dir = %self.dir.display(),
                error = %e,
                "cannot write the vector index beside the database; it is rebuilt at the next \
                 start (check that the folder is writable and has free space)"
            ),
        }
    }

    /// Writes the graph to a new folder, then points the metadata at it (temp file + rename),
    /// then removes the folder it replaced.
    fn dump(&self, model_id: &str, index: &ModelIndex) -> std::result::Result<(), String> {
        let slug = slug(model_id);
        fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        let unique = unique_suffix();
        let dir_name = format!("{slug}.dump-{unique}");
        let graph_dir = self.dir.join(&dir_name);
        fs::create_dir(&graph_dir).map_err(|e| format!("creating {}: {e}", graph_dir.display()))?;
        let dumped = catch_unwind(AssertUnwindSafe(|| {
            index.graph.file_dump(&graph_dir, BASENAME)
        }));
        match dumped {
            Ok(Ok(name)) if name == BASENAME => {}
            Ok(Ok(name)) => {
                let _ = fs::remove_dir_all(&graph_dir);
                return Err(format!("hnsw_rs dumped under an unexpected name {name:?}"));
            }
            Ok(Err(e)) => {
                let _ = fs::remove_dir_all(&graph_dir);
                return Err(format!("dumping to {}: {e}", graph_dir.display()));
            }
            Err(_) => {
                let _ = fs::remove_dir_all(&graph_dir);
                return Err(format!("dumping to {} failed", graph_dir.display()));
            }
        }
        let meta = DumpMeta {
            format: FORMAT,
            model_id: model_id.to_string(),
            dimension: DIMENSION,
            database_token: index.token.clone(),
            generation: index.generation,
            covered_chunk_id: index.covered,
            points: index.points,
            dir: dir_name.clone(),
        };
        let meta_path = self.meta_path(model_id);
        let previous = read_meta(&meta_path).ok().map(|m| m.dir);
        let temp = self.dir.join(format!("{slug}.json.{unique}.tmp"));
        let text = serde_json::to_vec_pretty(&meta).map_err(|e| e.to_string())?;
        let written = fs::write(&temp, text)
            .and_then(|()| fs::File::open(&temp)?.sync_all())
            .and_then(|()| fs::rename(&temp, &meta_path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            let _ = fs::remove_dir_all(&graph_dir);
            return Err(format!("writing {}: {e}", meta_path.display()));
        }
        if let Some(previous) = previous.filter(|p| *p != dir_name && is_dump_name(p, &slug)) {
            let _ = fs::remove_dir_all(self.dir.join(previous));
        }
        self.remove_orphans(&slug, &dir_name);
        Ok(())
    }

    /// Removes dump folders and temp files of this model left by crashed dumps.
    fn remove_orphans(&self, slug: &str, current: &str) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let temp_prefix = format!("{slug}.json.");
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover = is_dump_name(&name, slug)
                || (name.starts_with(&temp_prefix) && name.ends_with(".tmp"));
            if name == current || !leftover {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= ORPHAN_AGE);
            if old {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(path)
                } else {
                    fs::remove_file(path)
                };
            }
        }
    }

    fn meta_path(&self, model_id: &str) -> PathBuf {
        self.dir.join(format!("{}.json", slug(model_id)))
    }
}

impl ModelIndex {
    fn is_current(&self, state: &DbState) -> bool {
        self.token == state.token && self.generation >= state.generation
    }
}

impl DbState {
    fn read(conn: &Connection) -> Result<Self> {
        conn.prepare_cached(
            "SELECT database_token, generation, deletions FROM vector_index_state WHERE id = 1",
        )
        .and_then(|mut s| {
            s.query_row([], |r| {
                Ok(Self {
                    token: r.get(0)?,
                    generation: r.get(1)?,
                    deletions: r.get(2)?,
                })
            })
        })
        .context("reading the vector index state (is the database migrated?)")
    }
}

/// Records a change to the stored vectors (`deleted` of them deleted), in the writer's
/// transaction.
pub(crate) fn record_change(conn: &Connection, deleted: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE vector_index_state SET generation = generation + 1, \
         deletions = deletions + ?1 WHERE id = 1",
    )
    .and_then(|mut s| s.execute([deleted]))
    .context("recording a change to the stored vectors")?;
    Ok(())
}

/// Inserts the model's vectors stored above `covered`, then recounts the dead points if
/// vectors were deleted since they were last counted.
fn catch_up(
    conn: &Connection,
    model_id: &str,
    mut index: ModelIndex,
    state: &DbState,
) -> Result<ModelIndex> {
    loop {
        let batch = vectors_after(conn, model_id, index.covered)?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        insert(&index.graph, &batch);
        index.points += batch.iter().filter(|(_, v)| v.is_some()).count();
        index.covered = last;
    }
    if index.deletions != state.deletions {
        let stored = count_up_to(conn, model_id, index.covered)?;
        index.dead = index.points.saturating_sub(stored);
        index.deletions = state.deletions;
    }
    index.generation = state.generation;
    Ok(index)
}

/// A graph of every vector of the model stored in the snapshot `conn` reads.
fn build(conn: &Connection, model_id: &str, state: &DbState) -> Result<ModelIndex> {
    let started = Instant::now();
    let graph = Graph::new(
        MAX_CONNECTIONS,
        count_up_to(conn, model_id, i64::MAX)?.max(1024),
        MAX_LAYERS,
        EF_CONSTRUCTION,
        DistCosine,
    );
    let index = ModelIndex {
        graph,
        token: state.token.clone(),
        generation: state.generation,
        covered: 0,
        points: 0,
        dead: 0,
        deletions: state.deletions,
        dumped_points: 0,
        dumped_at: Instant::now(),
        origin: Origin::Built,
    };
    let index = catch_up(conn, model_id, index, state)?;
    tracing::info!(
        model_id,
        points = index.points,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "built the vector index"
    );
    Ok(index)
}

/// Inserts a batch into the graph (in parallel when it is large).
fn insert(graph: &Graph, batch: &[(i64, Option<Vec<f32>>)]) {
    let points: Vec<(&[f32], usize)> = batch
        .iter()
        .filter_map(|(id, v)| Some((v.as_deref()?, usize::try_from(*id).ok()?)))
        .collect();
    if points.len() >= 64 {
        graph.parallel_insert_slice(&points);
    } else {
        for point in points {
            graph.insert_slice(point);
        }
    }
}

/// Up to [`BUILD_BATCH`] of the model's vectors with chunk ids above `after`, in id order; a
/// vector that cannot be searched (wrong length, not finite, zero) is `None`.
fn vectors_after(
    conn: &Connection,
    model_id: &str,
    after: i64,
) -> Result<Vec<(i64, Option<Vec<f32>>)>> {
    conn.prepare_cached(
        "SELECT chunk_id, vector FROM embeddings WHERE model_id = ?1 AND chunk_id > ?2 \
         ORDER BY chunk_id LIMIT ?3",
    )
    .and_then(|mut s| {
        s.query_map(params![model_id, after, BUILD_BATCH], |r| {
            let bytes: Vec<u8> = r.get(1)?;
            Ok((r.get(0)?, decode_vector(&bytes).filter(|v| searchable(v))))
        })?
        .collect()
    })
    .context(&format!("reading the stored vectors of {model_id:?}"))
}

/// How many vectors of the model are stored with chunk ids up to `covered`.
fn count_up_to(conn: &Connection, model_id: &str, covered: i64) -> Result<usize> {
    let count: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM embeddings WHERE model_id = ?1 AND chunk_id <= ?2")
        .and_then(|mut s| s.query_row(params![model_id, covered], |r| r.get(0)))
        .context(&format!("counting the stored vectors of {model_id:?}"))?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// A vector as stored: little-endian f32, 4 bytes per dimension.
pub(crate) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A stored vector of [`DIMENSION`] values, or `None` for a blob of another length.
pub(crate) fn decode_vector(bytes: &[u8]) -> Option<Vec<f32>> {
    if bytes.len() != DIMENSION * 4 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Whether cosine similarity is defined for `vector`: of the store's dimension, finite, not 0.
pub(crate) fn searchable(vector: &[f32]) -> bool {
    vector.len() == DIMENSION
        && vector.iter().all(|v| v.is_finite())
        && vector.iter().any(|v| *v != 0.0)
}

/// Cosine similarity, computed in f64 so equal inputs score equal whatever their order.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (dot / (aa.sqrt() * bb.sqrt())) as f32
}

/// Reads the dump in `dir`.
fn load_graph(dir: &Path) -> std::result::Result<Graph, String> {
    // hnsw_rs ties a loaded graph's lifetime to its loader (for memory-mapped data, unused
    // here); the loader is a few paths, leaked once per load.
    let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, BASENAME)));
    loader.load_hnsw().map_err(|e| e.to_string())
}

fn read_meta(path: &Path) -> std::result::Result<DumpMeta, String> {
    let text = fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// A file-name-safe name for a model id: its safe characters and a hash of all of it.
fn slug(model_id: &str) -> String {
    let clean: String = model_id
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let hash = model_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{clean}-{hash:016x}")
}

/// Whether `name` is a dump folder of the model `slug` (`<slug>.dump-<unique>`).
fn is_dump_name(name: &str, slug: &str) -> bool {
    name.strip_prefix(slug)
        .and_then(|rest| rest.strip_prefix(".dump-"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(['.', '/', '\\']))
}

/// Unique among processes and calls: pid, time and a counter.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn read(slot: &Slot) -> RwLockReadGuard<'_, Option<ModelIndex>> {
    slot.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(slot: &Slot) -> RwLockWriteGuard<'_, Option<ModelIndex>> {
    slot.write().unwrap_or_else(PoisonError::into_inner)
}

/// The query's vector must be searchable; the error names the field and the fix.
pub(crate) fn check_query_vector(vector: &[f32]) -> Result<()> {
    if vector.len() != DIMENSION {
        return Err(Error::invalid(
            "vector",
            format!(
                "has {} dimensions; this store keeps {DIMENSION}-dimension vectors \
                 (all-MiniLM-L6-v2): embed the query with that model",
                vector.len()
            ),
        ));
    }
    if !searchable(vector) {
        return Err(Error::invalid(
            "vector",
            "must be finite and not all zero (an L2-normalised embedding)",
        ));
    }
    Ok(())
}
