"""Embedding throughput through onnxruntime's own Python API, for comparison with
benches/embedder.rs: the same model.onnx and tokenizer.json (from scripts/models.sh), the same
texts, the same pipeline (tokenize with truncation at 256 and padding to the batch's longest,
run the session, mean-pool over the attention mask, L2-normalise), the same table.

    scripts/models.sh
    .tools/venv/bin/pip install onnxruntime==1.31.1 tokenizers==0.23.3 numpy
    .tools/venv/bin/python benches/embedder_onnxruntime.py            # CYBERBRAIN_BENCH_SMOKE=1: tiny

The models dir is $CYBERBRAIN_MODELS_DIR, default ./cyberbrain-data/models. Each row is the
median of 3 timed passes after one warm-up call; a call of more than 32 texts runs the session
on 32 at a time, as the Rust embedder does.
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

WORDS = (
    "the server log shows a disk error on the main node after a restart so we check the network "
    "and the storage then run the backup job again while the team reads each report about memory "
    "use and time spent in every task of the night"
).split()
LONG_WORDS = 254
MAX_TOKENS = 256
BATCH = 32
REPS = 3


def short_texts(count):
    return [f"host web-{i} reported a disk error on the main node" for i in range(count)]


def long_texts(count):
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(LONG_WORDS)) for i in range(count)]


class Embedder:
    def __init__(self, model_dir):
        self.session = onnxruntime.InferenceSession(
            str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The file pads to 128 and truncates at 128; the embedder pads to the batch's longest
        # and truncates at 256.
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts):
        out = []
        for start in range(0, len(texts), BATCH):
            encodings = self.tokenizer.encode_batch(texts[start : start + BATCH])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out)


def measure(embedder, texts, per_call):
    embedder.embed(texts[:per_call])
    rates = []
    for _ in range(REPS):
        started = time.perf_counter()
        for start in range(0, len(texts), per_call):
            call = texts[start : start + per_call]
            assert len(embedder.embed(call)) == len(call)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def main():
    smoke = os.environ.get("CYBERBRAIN_BENCH_SMOKE", "") not in ("", "0")
    models = Path(os.environ.get("CYBERBRAIN_MODELS_DIR") or "cyberbrain-data/models")
    model_dir = models / "all-MiniLM-L6-v2"
    if not (model_dir / "model.onnx").is_file() or not (model_dir / "tokenizer.json").is_file():
        sys.exit(f"error: no model.onnx and tokenizer.json in {model_dir}; run scripts/models.sh {models}")
    embedder = Embedder(model_dir)

    # The texts are what the table says they are.
    plain = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    plain.no_padding()
    plain.no_truncation()
    assert all(len(plain.encode(w, add_special_tokens=False).ids) == 1 for w in WORDS)
    assert all(len(plain.encode(t).ids) == MAX_TOKENS for t in long_texts(4))
    short_pieces = sorted({len(plain.encode(t).ids) for t in short_texts(512)})

    # Sanity: the pipeline reproduces the reference vector.
    reference = json.loads(
        (Path(__file__).resolve().parent.parent / "cyberbrain-core/tests/fixtures/minilm/reference.json").read_text()
    )["vectors"][0]
    cosine = float(embedder.embed([reference["text"]])[0] @ np.array(reference["vector"]))
    assert cosine >= 0.999, cosine

    short_count, long_count, per_call = (16, 4, [1, 4]) if smoke else (512, 128, [1, 8, 32, 128])
    print(
        f"Embedding throughput: all-MiniLM-L6-v2 int8 ONNX via onnxruntime {onnxruntime.__version__} "
        f"(Python {sys.version.split()[0]}), {os.cpu_count()} CPU thread(s), median of {REPS} passes"
        f"{' (smoke mode)' if smoke else ''}; reference cosine {cosine:.5f}"
    )
    print()
    print("| input | word pieces | texts | texts per call | chunks/s |")
    print("|---|---:|---:|---:|---:|")
    inputs = [
        ("short sentence", f"{short_pieces[0]}–{short_pieces[-1]}", short_texts(short_count)),
        ("256-token", str(MAX_TOKENS), long_texts(long_count)),
    ]
    for name, pieces, texts in inputs:
        for n in per_call:
            print(f"| {name} | {pieces} | {len(texts)} | {n} | {measure(embedder, texts, n):.1f} |")


if __name__ == "__main__":
    main()
