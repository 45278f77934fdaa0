//! The knowledge base's document pipeline (SPEC §3.6), pure and synchronous (the engine runs it
//! on blocking threads):
//!
//! - [`detect`](mod@detect): at upload, [`check_extension`] refuses an unknown extension
//!   before the body is read, and [`detect()`] checks the received file's content against its
//!   extension, giving the [`DocumentType`] with its stored extension and MIME type
//!   (`UnsupportedType` → HTTP 415).
//! - [`extract`](mod@extract): [`extract()`] turns a stored file into [`ExtractedText`] (title
//!   and text); failures are [`ExtractError`]s with a user-facing message of at most 1000
//!   characters.
//! - [`chunk`]: [`chunk_words`] splits text into overlapping word windows ([`ChunkOptions`],
//!   default 500 words sharing 50) as [`TextChunk`]s.
//! - [`prepare()`]: what the ingester calls: extract, then chunk.

pub mod chunk;
pub mod detect;
pub mod extract;
pub mod prepare;

pub use chunk::{ChunkOptions, TextChunk, chunk_words};
pub use detect::{ACCEPTED_TYPES, DocumentType, check_extension, detect};
pub use extract::{ExtractError, ExtractErrorKind, ExtractedText, extract};
pub use prepare::prepare;
