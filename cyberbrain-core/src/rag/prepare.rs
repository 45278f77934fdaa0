//! The ingester's one call into the document pipeline: the stored file's type, text, title and
//! chunks, on a blocking thread.

use std::path::Path;

use super::chunk::{ChunkOptions, TextChunk, chunk_words};
use super::detect::check_extension;
use super::extract::extract;
use crate::error::Result;

/// The title and chunks of the stored file at `path`, uploaded as `filename`. The type comes
/// from `filename`'s extension, which upload detection already matched against the content
/// (the stored file carries the same extension). Errors: `InvalidInput` for invalid options or
/// a document that is corrupt or holds no text, `UnsupportedType` for a name with no accepted
/// extension, `Backend` when the file cannot be read; each message names the file and is at
/// most 1000 characters.
pub fn prepare(
    path: &Path,
    filename: &str,
    options: ChunkOptions,
) -> Result<(String, Vec<TextChunk>)> {
    options.validate()?;
    let kind = check_extension(filename)?;
    let extracted = extract(path, kind, filename)?;
    let chunks = chunk_words(&extracted.text, options)?;
    Ok((extracted.title, chunks))
}
