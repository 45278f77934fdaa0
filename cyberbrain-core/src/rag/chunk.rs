//! Splitting extracted text into overlapping word windows (SPEC §3.6: 500 words with 50 shared
//! by consecutive chunks by default; exactly 500 words is one chunk).
//!
//! Words are runs of non-whitespace separated by Unicode whitespace. A chunk's text is its words
//! joined by single spaces: line breaks and runs of spaces inside a window are not kept, which
//! embeddings do not need and which makes chunk text independent of the source's layout.

use crate::error::{FieldErrors, Result};

/// Window size and overlap, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Words per chunk; 1 or more.
    pub words: usize,
    /// Words shared by consecutive chunks; less than `words`.
    pub overlap: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            words: 500,
            overlap: 50,
        }
    }
}

impl ChunkOptions {
    /// `InvalidInput` naming the configuration keys (`rag.chunk_words`, `rag.chunk_overlap`)
    /// these options come from.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.words == 0 {
            errors.add("rag.chunk_words", "must be 1 or more");
        } else if self.overlap >= self.words {
            errors.add(
                "rag.chunk_overlap",
                format!(
                    "must be less than rag.chunk_words ({}), got {}",
                    self.words, self.overlap
                ),
            );
        }
        errors.into_result()
    }

    /// How many chunks `word_count` words make: none for no words, one up to `words`, then one
    /// more per `words - overlap` (rounded up). Assumes valid options.
    pub fn chunk_count(&self, word_count: usize) -> usize {
        if word_count == 0 {
            0
        } else if word_count <= self.words {
            1
        } else {
            1 + (word_count - self.words).div_ceil(self.words - self.overlap)
        }
    }
}

/// One window of words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk {
    /// The window's words joined by single spaces.
    pub text: String,
    /// Words in the window (at most `ChunkOptions::words`).
    pub word_count: usize,
}

/// `text` as windows of `options.words` words, each starting `words - overlap` words after the
/// previous one, the last ending at the last word (so it may be shorter). No words, no chunks.
pub fn chunk_words(text: &str, options: ChunkOptions) -> Result<Vec<TextChunk>> {
    options.validate()?;
    let words: Vec<&str> = text.split_whitespace().collect();
    let step = options.words - options.overlap;
    let mut chunks = Vec::with_capacity(options.chunk_count(words.len()));
    let mut start = 0;
    while start < words.len() {
        let end = (start + options.words).min(words.len());
        let window = &words[start..end];
        chunks.push(TextChunk {
            text: window.join(" "),
            word_count: window.len(),
        });
        if end == words.len() {
            break;
        }
        start += step;
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    fn words(n: usize) -> String {
        (0..n)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn exactly_one_window_is_one_chunk() {
        let chunks = chunk_words(&words(500), ChunkOptions::default()).unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].word_count, 500);
        assert!(chunks[0].text.starts_with("w0 w1 ") && chunks[0].text.ends_with(" w499"));
    }

    #[test]
    fn one_word_more_starts_a_second_chunk_at_the_overlap() {
        let chunks = chunk_words(&words(501), ChunkOptions::default()).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].word_count, 500);
        assert_eq!(chunks[1].word_count, 51);
        assert!(
            chunks[1].text.starts_with("w450 "),
            "{}",
            &chunks[1].text[..20]
        );
        assert!(chunks[1].text.ends_with(" w500"));
    }

    #[test]
    fn no_words_make_no_chunks() {
        for text in ["", "   ", "\n\t \r\n", "\u{a0}\u{2003}"] {
            assert!(
                chunk_words(text, ChunkOptions::default())
                    .unwrap()
                    .is_empty(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn whitespace_runs_become_single_spaces() {
        let options = ChunkOptions {
            words: 3,
            overlap: 1,
        };
        let chunks = chunk_words("  one\ttwo\n\nthree  four\r\nfive ", options).unwrap();
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["one two three", "three four five"]);
    }

    #[test]
    fn invalid_options_name_the_setting() {
        let zero = chunk_words(
            "a b",
            ChunkOptions {
                words: 0,
                overlap: 0,
            },
        )
        .unwrap_err();
        assert!(
            zero.to_string()
                .contains("rag.chunk_words: must be 1 or more"),
            "{zero}"
        );
        let overlap = chunk_words(
            "a b",
            ChunkOptions {
                words: 5,
                overlap: 5,
            },
        )
        .unwrap_err();
        assert!(
            overlap
                .to_string()
                .contains("rag.chunk_overlap: must be less than rag.chunk_words (5)"),
            "{overlap}"
        );
        assert!(matches!(overlap, Error::InvalidInput(_)));
    }

    proptest! {
        #[test]
        fn chunks_cover_every_word_in_order(
            input in proptest::collection::vec("[a-zA-Z0-9éß]{1,6}", 0..400),
            separators in proptest::collection::vec(prop_oneof![
                Just(" "), Just("  "), Just("\n"), Just("\t"), Just(" \r\n "),
            ], 400),
            words in 1usize..60,
            overlap_seed in 0usize..60,
        ) {
            let overlap = overlap_seed % words;
            let options = ChunkOptions { words, overlap };
            let mut text = String::from(separators[0]);
            for (i, word) in input.iter().enumerate() {
                text.push_str(word);
                text.push_str(separators[(i + 1) % separators.len()]);
            }
            let chunks = chunk_words(&text, options).unwrap();
            prop_assert_eq!(chunks.len(), options.chunk_count(input.len()));

            // Dropping each later chunk's first `overlap` words gives back the input, in order.
            let mut rebuilt: Vec<String> = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                let chunk_words: Vec<&str> = chunk.text.split(' ').collect();
                prop_assert_eq!(chunk_words.len(), chunk.word_count);
                prop_assert!(chunk.word_count >= 1 && chunk.word_count <= words);
                if i + 1 < chunks.len() {
                    prop_assert_eq!(chunk.word_count, words);
                }
                let skip = if i == 0 { 0 } else { overlap };
                rebuilt.extend(chunk_words[skip..].iter().map(|w| w.to_string()));
            }
            prop_assert_eq!(&rebuilt, &input);

            // Consecutive chunks share exactly `overlap` words.
            for pair in chunks.windows(2) {
                let first: Vec<&str> = pair[0].text.split(' ').collect();
                let second: Vec<&str> = pair[1].text.split(' ').collect();
                prop_assert_eq!(&first[first.len() - overlap..], &second[..overlap]);
            }
        }
    }
}
