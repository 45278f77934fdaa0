//! all-MiniLM-L6-v2 through ONNX Runtime (fastembed), from local files only (G7).
//!
//! The files come from `scripts/models.sh`: `<models>/all-MiniLM-L6-v2/` holds `model.onnx` (an
//! int8 export whose vectors have cosine ≥ 0.999 with the fp32 model's) and the tokenizer files;
//! `<models>/onnxruntime/` holds the ONNX Runtime shared library, loaded at run time.
//!
//! ort panics when the library is missing or too old, so everything is checked first — the
//! files exist, the library's version (from its file name, then from the library itself through
//! `ort::init_from`) is at least [`MIN_ONNXRUNTIME`] — and a failure is an
//! [`Error::Unavailable`] naming the path and the fix. Initialisation also runs under
//! `catch_unwind`, as a last line of defence.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_trait::async_trait;
use fastembed::{
    InitOptionsUserDefined, Pooling, QuantizationMode, TextEmbedding, TokenizerFiles,
    UserDefinedEmbeddingModel,
};
use tokenizers::Tokenizer;

use super::Embedder;
use super::windows::{self, Window};
use crate::{Error, Result};

/// The name stored beside every vector. The int8 export keeps the name of the model it was
/// exported from: its vectors match the fp32 model's (cosine ≥ 0.999), so they are
/// interchangeable for search, and a different id would make stored vectors look foreign.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// The model's directory below the models dir.
pub const MODEL_DIR_NAME: &str = "all-MiniLM-L6-v2";
/// The ONNX Runtime library's directory below the models dir.
pub const ONNXRUNTIME_DIR_NAME: &str = "onnxruntime";
/// The oldest ONNX Runtime the ort binding accepts (its C API level 24).
pub const MIN_ONNXRUNTIME: (u32, u32) = (1, 24);
/// The files `<models>/all-MiniLM-L6-v2/` must hold.
pub const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// The vectors' dimension: the one the stores keep.
pub const MINILM_DIMENSION: usize = crate::domain::EMBEDDING_DIMENSION;
/// Word pieces per model input, [CLS] and [SEP] included.
pub const MINILM_MAX_TOKENS: usize = 256;
const DIMENSION: usize = MINILM_DIMENSION;
const MAX_TOKENS: usize = MINILM_MAX_TOKENS;
/// Word pieces per window: the model input less [CLS] and [SEP].
const WINDOW_PIECES: usize = MAX_TOKENS - 2;
/// Windows per ONNX Runtime call: large enough to amortise a call, small enough that padding
/// to the longest window of the batch wastes little.
const BATCH: usize = 32;
const FIX: &str = "run scripts/models.sh";

/// Where the model files and the ONNX Runtime library are, after checking they are usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiniLmFiles {
    /// `<models>/all-MiniLM-L6-v2`.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library.
    pub library: PathBuf,
    /// The library's version when its file name carries one (`libonnxruntime.so.1.31.1`).
    pub library_version: Option<String>,
}

impl MiniLmFiles {
    /// Finds the files without loading anything, so it is safe to call anywhere (e.g. a health
    /// check). The library is `library` when given, else `$ORT_DYLIB_PATH` when set, else the
    /// newest `libonnxruntime*` in `<models_dir>/onnxruntime/`.
    pub fn locate(models_dir: &Path, library: Option<&Path>) -> Result<Self> {
        let model_dir = models_dir.join(MODEL_DIR_NAME);
        let missing: Vec<String> = MODEL_FILES
            .iter()
            .map(|name| model_dir.join(name))
            .filter(|path| !path.is_file())
            .map(|path| path.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(unavailable(format!(
                "the all-MiniLM-L6-v2 model files are missing ({}); {FIX} {} to fetch them",
                missing.join(", "),
                models_dir.display()
            )));
        }
        let library = match library {
            Some(path) => path.to_path_buf(),
            None => match std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
                Some(path) => PathBuf::from(path),
                None => newest_library(&models_dir.join(ONNXRUNTIME_DIR_NAME))?,
            },
        };
        if !library.is_file() {
            return Err(unavailable(format!(
                "the ONNX Runtime library {} does not exist; {FIX} {} to fetch ONNX Runtime \
                 1.31.1 there, or point ORT_DYLIB_PATH at a libonnxruntime of version {}.{} or newer",
                library.display(),
                models_dir.display(),
                MIN_ONNXRUNTIME.0,
                MIN_ONNXRUNTIME.1
            )));
        }
        // A symlink (libonnxruntime.so → libonnxruntime.so.1.31.1) carries the version in its
        // target's name. The link's own name wins when it has a version: it is what was chosen.
        let version = version_in_name(&library).or_else(|| {
            std::fs::canonicalize(&library)
                .ok()
                .and_then(|target| version_in_name(&target))
        });
        if let Some((major, minor, ref text)) = version
            && (major, minor) < MIN_ONNXRUNTIME
        {
            return Err(unavailable(format!(
                "the ONNX Runtime library {} is version {text}, older than the {}.{} the embedder \
                 needs; {FIX} {} to fetch ONNX Runtime 1.31.1, or point ORT_DYLIB_PATH at a newer \
                 library",
                library.display(),
                MIN_ONNXRUNTIME.0,
                MIN_ONNXRUNTIME.1,
                models_dir.display()
            )));
        }
        Ok(Self {
            model_dir,
            library,
            library_version: version.map(|(_, _, text)| text),
        })
    }
}

/// The all-MiniLM-L6-v2 [`Embedder`]: 384-d, mean pooling, L2-normalised, 256 word pieces per
/// window. Cheap to clone; the model is loaded once per process and models dir, and shared.
#[derive(Clone)]
pub struct MiniLmEmbedder {
    model: Arc<LoadedModel>,
}

struct LoadedModel {
    files: MiniLmFiles,
    /// fastembed's `embed` takes `&mut self`; ONNX Runtime already spreads one call over every
    /// core, so calls taking turns lose little.
    session: Mutex<TextEmbedding>,
    /// The model's tokenizer without truncation or padding, to measure and split long texts.
    splitter: Tokenizer,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("model_dir", &self.model.files.model_dir)
            .field("library", &self.model.files.library)
            .finish()
    }
}

impl MiniLmEmbedder {
    /// Loads the model from `<models_dir>/all-MiniLM-L6-v2` with the ONNX Runtime library from
    /// `$ORT_DYLIB_PATH` or `<models_dir>/onnxruntime/`. Blocks (file reads and session set-up,
    /// under a second) the first time per models dir; later calls share the loaded model.
    pub fn load(models_dir: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(models_dir.as_ref(), None)
    }

    /// [`MiniLmEmbedder::load`] with an explicit ONNX Runtime library. One process can hold only
    /// one ONNX Runtime: once a library is loaded, later calls use it whatever they name.
    pub fn load_with_library(
        models_dir: impl AsRef<Path>,
        library: impl AsRef<Path>,
    ) -> Result<Self> {
        Self::load_with(models_dir.as_ref(), Some(library.as_ref()))
    }

    fn load_with(models_dir: &Path, library: Option<&Path>) -> Result<Self> {
        let files = MiniLmFiles::locate(models_dir, library)?;
        static LOADED: Mutex<Vec<Arc<LoadedModel>>> = Mutex::new(Vec::new());
        // Held while loading: two callers for the same directory load it once.
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        let key =
            std::fs::canonicalize(&files.model_dir).unwrap_or_else(|_| files.model_dir.clone());
        if let Some(model) = loaded.iter().find(|m| {
            std::fs::canonicalize(&m.files.model_dir).unwrap_or_else(|_| m.files.model_dir.clone())
                == key
        }) {
            return Ok(Self {
                model: model.clone(),
            });
        }
        let model = Arc::new(load_model(files)?);
        loaded.push(model.clone());
        Ok(Self { model })
    }

    /// The files this embedder was loaded from.
    pub fn files(&self) -> &MiniLmFiles {
        &self.model.files
    }

    fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let model = &self.model;
        let mut windows: Vec<(usize, Window<'_>)> = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            windows.extend(
                windows::split(&model.splitter, text, WINDOW_PIECES)?
                    .into_iter()
                    .map(|w| (index, w)),
            );
        }
        // Similar lengths share a batch, so little of each batch is padding; results do not
        // depend on the batch (padding is masked), so the order is free.
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| windows[i].1.text.len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); windows.len()];
        for batch in order.chunks(BATCH) {
            let inputs: Vec<&str> = batch.iter().map(|&i| windows[i].1.text).collect();
            let outputs = run_guarded(|| {
                let mut session = model.session.lock().unwrap_or_else(PoisonError::into_inner);
                session.embed(&inputs, Some(BATCH))
            })?
            .map_err(|e| {
                Error::backend(format!("the embedder's ONNX Runtime inference failed: {e}"))
            })?;
            if outputs.len() != inputs.len() || outputs.iter().any(|v| v.len() != DIMENSION) {
                return Err(Error::backend(format!(
                    "the embedding model {} returned vectors of the wrong shape (expected {} of {DIMENSION} numbers); \
                     is it all-MiniLM-L6-v2? {FIX} to fetch it again",
                    model.files.model_dir.display(),
                    inputs.len()
                )));
            }
            for (&i, vector) in batch.iter().zip(outputs) {
                vectors[i] = vector;
            }
        }
        let mut out = Vec::with_capacity(texts.len());
        let mut at = 0;
        for index in 0..texts.len() {
            let end = at
                + windows[at..]
                    .iter()
                    .take_while(|(i, _)| *i == index)
                    .count();
            let weights: Vec<usize> = windows[at..end].iter().map(|(_, w)| w.pieces).collect();
            out.push(windows::merge(&vectors[at..end], &weights));
            at = end;
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| Error::backend(format!("the embedding task did not finish: {e}")))?
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn max_tokens(&self) -> usize {
        MAX_TOKENS
    }
}

fn unavailable(message: String) -> Error {
    Error::unavailable("embedder", message)
}

/// Runs `f`, turning a panic (ort's reaction to a broken library) into an error.
fn run_guarded<T>(f: impl FnOnce() -> T) -> Result<T> {
    crate::caught_panic::catch(f).map_err(|what| {
        unavailable(format!(
            "ONNX Runtime failed: {what}; {FIX} to fetch a working copy"
        ))
    })
}

/// Loads ONNX Runtime once per process. The first library loaded stays for the process.
fn load_runtime(files: &MiniLmFiles) -> Result<()> {
    static RUNTIME: OnceLock<PathBuf> = OnceLock::new();
    static LOADING: Mutex<()> = Mutex::new(());
    let _turn = LOADING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = RUNTIME.get() {
        if loaded != &files.library {
            tracing::warn!(
                loaded = %loaded.display(),
                requested = %files.library.display(),
                "ONNX Runtime is already loaded in this process; using the loaded library"
            );
        }
        return Ok(());
    }
    // `init_from` dlopens the library and checks the version it reports itself, returning an
    // error (where ort's lazy loading would panic) for a file that is not ONNX Runtime or is
    // older than the C API ort was built for.
    run_guarded(|| ort::init_from(&files.library).map(drop))?.map_err(|e| {
        unavailable(format!(
            "the ONNX Runtime library {} cannot be loaded: {e}; {FIX} to fetch ONNX Runtime \
             1.31.1, or point ORT_DYLIB_PATH at a libonnxruntime of version {}.{} or newer",
            files.library.display(),
            MIN_ONNXRUNTIME.0,
            MIN_ONNXRUNTIME.1
        ))
    })?;
    let _ = RUNTIME.set(files.library.clone());
    Ok(())
}

fn load_model(files: MiniLmFiles) -> Result<LoadedModel> {
    let read = |name: &str| {
        let path = files.model_dir.join(name);
        std::fs::read(&path).map_err(|e| {
            unavailable(format!(
                "cannot read {}: {e}; {FIX} to fetch it again",
                path.display()
            ))
        })
    };
    let model = UserDefinedEmbeddingModel::new(
        read("model.onnx")?,
        TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        },
    )
    .with_pooling(Pooling::Mean)
    // Weight-only int8: activations are not quantized per batch, so batching is exact.
    .with_quantization(QuantizationMode::None);
    load_runtime(&files)?;
    let options = InitOptionsUserDefined::new().with_max_length(MAX_TOKENS);
    let session = run_guarded(|| TextEmbedding::try_new_from_user_defined(model, options))?.map_err(|e| {
        unavailable(format!(
            "the embedding model in {} cannot be loaded: {e}; {FIX} to fetch the model files again",
            files.model_dir.display()
        ))
    })?;
    let mut splitter = session.tokenizer.clone();
    splitter.with_padding(None);
    splitter.with_truncation(None).map_err(|e| {
        Error::backend(format!(
            "the embedder's tokenizer cannot be configured: {e}"
        ))
    })?;
    tracing::info!(
        model = %files.model_dir.display(),
        library = %files.library.display(),
        "loaded the all-MiniLM-L6-v2 embedder"
    );
    Ok(LoadedModel {
        files,
        session: Mutex::new(session),
        splitter,
    })
}

/// The newest `libonnxruntime*` in `dir` by the version in its name.
fn newest_library(dir: &Path) -> Result<PathBuf> {
    let not_found = || {
        unavailable(format!(
            "no ONNX Runtime library (libonnxruntime*) in {}; {FIX} {} to fetch ONNX Runtime \
             1.31.1 there, or point ORT_DYLIB_PATH at a libonnxruntime of version {}.{} or newer",
            dir.display(),
            dir.parent().unwrap_or(dir).display(),
            MIN_ONNXRUNTIME.0,
            MIN_ONNXRUNTIME.1
        ))
    };
    let entries = std::fs::read_dir(dir).map_err(|_| not_found())?;
    entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("libonnxruntime.") || n.starts_with("onnxruntime.")
                })
        })
        .max_by_key(|path| {
            version_in_name(path).map(|(major, minor, text)| (major, minor, patch_of(&text)))
        })
        .ok_or_else(not_found)
}

fn patch_of(version: &str) -> u32 {
    version
        .split('.')
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// The version in a library's file name: `libonnxruntime.so.1.31.1` (Linux) or
/// `libonnxruntime.1.31.1.dylib` (macOS) → (1, 31, "1.31.1").
fn version_in_name(path: &Path) -> Option<(u32, u32, String)> {
    let name = path.file_name()?.to_str()?;
    if !name.contains("onnxruntime") {
        return None;
    }
    let parts: Vec<&str> = name.split('.').collect();
    let first = parts
        .iter()
        .position(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
    let numbers: Vec<&str> = parts[first..]
        .iter()
        .take_while(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .copied()
        .collect();
    if numbers.len() < 2 {
        return None;
    }
    Some((
        numbers[0].parse().ok()?,
        numbers[1].parse().ok()?,
        numbers.join("."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_library_names() {
        let v = |name: &str| version_in_name(Path::new(name));
        assert_eq!(
            v("/x/libonnxruntime.so.1.31.1"),
            Some((1, 31, "1.31.1".to_string()))
        );
        assert_eq!(
            v("libonnxruntime.1.24.0.dylib"),
            Some((1, 24, "1.24.0".to_string()))
        );
        assert_eq!(
            v("libonnxruntime.so.1.23.0"),
            Some((1, 23, "1.23.0".to_string()))
        );
        assert_eq!(v("libonnxruntime.so"), None);
        assert_eq!(v("libonnxruntime.so.1"), None);
        assert_eq!(v("libfoo.so.1.31.1"), None);
    }

    #[test]
    fn the_newest_library_in_a_directory_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "libonnxruntime.so.1.24.2",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.so.1.9.0",
            "README",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(
            newest_library(dir.path()).unwrap(),
            dir.path().join("libonnxruntime.so.1.31.1")
        );
        let empty = tempfile::tempdir().unwrap();
        let err = newest_library(empty.path()).unwrap_err().to_string();
        assert!(err.contains("scripts/models.sh"), "{err}");
    }
}
