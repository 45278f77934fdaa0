//! Splitting a text into windows the model can take whole, and merging the windows' vectors
//! back into one (SPEC §3.6: a chunk longer than one window is embedded window by window and
//! averaged, so no text is silently dropped — the model itself would truncate at 256 pieces).

use tokenizers::Tokenizer;

use crate::{Error, Result};

/// One window of a text: a slice of it and the number of word pieces it holds (its weight
/// when the window vectors are averaged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window<'t> {
    pub text: &'t str,
    pub pieces: usize,
}

/// Splits `text` into windows of at most `max_pieces` word pieces (special tokens not counted),
/// cut at word boundaries where a word fits, so every window re-tokenizes to the same pieces.
///
/// `tokenizer` must neither truncate nor pad. A text short enough for one window comes back
/// whole, without tokenizing: a BERT word piece covers at least one character.
pub(crate) fn split<'t>(
    tokenizer: &Tokenizer,
    text: &'t str,
    max_pieces: usize,
) -> Result<Vec<Window<'t>>> {
    let chars = text.chars().count();
    if chars <= max_pieces {
        return Ok(vec![Window {
            text,
            pieces: chars.max(1),
        }]);
    }
    let encoding = tokenizer
        .encode(text, false)
        .map_err(|e| Error::backend(format!("the embedder could not tokenize a text: {e}")))?;
    let offsets = encoding.get_offsets();
    let words = encoding.get_word_ids();
    let total = offsets.len();
    if total <= max_pieces {
        return Ok(vec![Window {
            text,
            pieces: total.max(1),
        }]);
    }
    let mut windows = Vec::with_capacity(total / max_pieces + 1);
    let mut start = 0;
    while start < total {
        let mut end = (start + max_pieces).min(total);
        // Back off to the start of the word cut in two, unless the word alone fills the window.
        if end < total {
            let mut boundary = end;
            while boundary > start
                && words[boundary].is_some()
                && words[boundary] == words[boundary - 1]
            {
                boundary -= 1;
            }
            if boundary > start {
                end = boundary;
            }
        }
        let window = loop {
            let slice = text
                .get(offsets[start].0..offsets[end - 1].1)
                .ok_or_else(|| {
                    Error::backend(
                        "the embedder's tokenizer returned offsets that split a character",
                    )
                })?;
            // A window cut inside a word (one longer than a window) may re-tokenize to more
            // pieces than it had in place; shrink it until the model takes it whole.
            let pieces = tokenizer
                .encode(slice, false)
                .map_err(|e| {
                    Error::backend(format!("the embedder could not tokenize a text: {e}"))
                })?
                .len();
            if pieces <= max_pieces || end - start == 1 {
                break Window {
                    text: slice,
                    pieces: pieces.max(1),
                };
            }
            end = start + ((end - start) * max_pieces / pieces).clamp(1, end - start - 1);
        };
        windows.push(window);
        start = end;
    }
    Ok(windows)
}

/// The mean of window vectors weighted by their word pieces, L2-normalised: a short tail window
/// counts for what it holds, not as much as a full one.
pub(crate) fn merge(vectors: &[Vec<f32>], weights: &[usize]) -> Vec<f32> {
    if let [single] = vectors {
        return single.clone();
    }
    let dimension = vectors.first().map_or(0, Vec::len);
    let mut sum = vec![0f32; dimension];
    for (vector, &weight) in vectors.iter().zip(weights) {
        for (s, x) in sum.iter_mut().zip(vector) {
            *s += x * weight as f32;
        }
    }
    normalise(&mut sum);
    sum
}

pub(crate) fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_window_comes_back_unchanged() {
        let v = vec![0.6, 0.8];
        assert_eq!(merge(std::slice::from_ref(&v), &[3]), v);
    }

    #[test]
    fn windows_are_averaged_by_pieces_and_renormalised() {
        let merged = merge(&[vec![1.0, 0.0], vec![0.0, 1.0]], &[3, 1]);
        let norm = merged.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
        assert!((merged[0] / merged[1] - 3.0).abs() < 1e-5);
    }

    #[test]
    fn a_zero_vector_stays_zero() {
        let mut v = vec![0.0, 0.0];
        normalise(&mut v);
        assert_eq!(v, vec![0.0, 0.0]);
    }
}
