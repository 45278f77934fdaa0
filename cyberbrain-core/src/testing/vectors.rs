//! Synthetic embeddings for search tests and benchmarks: deterministic 384-d unit vectors in
//! clusters, the shape real chunk embeddings have (a document's chunks lie near each other),
//! with exact nearest neighbours to compare an approximate index against.

/// The dimension of the vectors, the stores' dimension.
pub const DIMENSION: usize = crate::domain::EMBEDDING_DIMENSION;

/// A small deterministic generator (xorshift64*), so every run sees the same data.
#[derive(Debug, Clone)]
pub struct VectorRng(u64);

impl VectorRng {
    /// A generator seeded with `seed` (zero is replaced: xorshift never leaves it).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Roughly normal (mean 0, variance 1/3), from the sum of four uniforms.
    pub fn gaussian(&mut self) -> f32 {
        (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum::<f32>()
            - 2.0
    }

    /// `n` unit vectors: a random centre for every `per_cluster` of them, each vector its
    /// centre plus noise of `spread` per dimension.
    pub fn clustered(&mut self, n: usize, per_cluster: usize, spread: f32) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(n);
        let mut centre = Vec::new();
        for i in 0..n {
            if i % per_cluster.max(1) == 0 {
                centre = normalise((0..DIMENSION).map(|_| self.gaussian()).collect());
            }
            let point = centre
                .iter()
                .map(|c| c + spread * self.gaussian())
                .collect();
            out.push(normalise(point));
        }
        out
    }

    /// `base` plus noise of `spread` per dimension, normalised: a query near a stored vector.
    pub fn near(&mut self, base: &[f32], spread: f32) -> Vec<f32> {
        normalise(base.iter().map(|x| x + spread * self.gaussian()).collect())
    }
}

/// The unit vector along axis `i`.
pub fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIMENSION];
    v[i] = 1.0;
    v
}

/// `Σ weight · axis`, L2-normalised: hand-made vectors whose scores are known exactly.
pub fn blend(parts: &[(usize, f32)]) -> Vec<f32> {
    let mut v = vec![0.0f32; DIMENSION];
    for (i, w) in parts {
        v[*i] += *w;
    }
    normalise(v)
}

/// `v` scaled to unit length.
pub fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// The indexes of the `k` vectors of `data` with the largest dot product with `query` (cosine
/// for unit vectors), best first, ties by index.
pub fn exact_top(data: &[Vec<f32>], query: &[f32], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}
