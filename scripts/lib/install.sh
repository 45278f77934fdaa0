# shellcheck shell=bash
# Installs what the test suite needs, idempotently: every check is cheap, and a package manager
# runs only when something is missing or a pinned version changed. Source after common.sh (which
# brings ensure_debs from system.sh).

CHROMIUM_BIN=/usr/bin/chromium
PYTHON_REQUIREMENTS="$CYBERBRAIN_ROOT/scripts/requirements-test.txt"
NODE_MIN_MAJOR=20 # playwright-core's `engines`
PYTHON_DEBS_HINT="install Python 3.9 or newer with its venv module with your package manager"
NODE_DEBS_HINT="install Node.js $NODE_MIN_MAJOR or newer and npm with your package manager"

# A C compiler: rusqlite builds its bundled SQLite.
ensure_build_tools() {
  command -v cc >/dev/null 2>&1 || ensure_debs "install a C compiler (cc) with your package manager" build-essential
}

ensure_chromium() {
  # fonts-liberation: without any font, pages render as boxes in screenshots.
  ensure_debs "install Chromium (as $CHROMIUM_BIN) and the Liberation fonts with your package manager" \
    chromium fonts-liberation
  [[ -x $CHROMIUM_BIN ]] || die "the chromium package is installed but $CHROMIUM_BIN is missing"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Python venv at .tools/venv with the pinned test requirements (maturin, pytest, mcp).
ensure_python_venv() {
  if ! "$VENV_DIR/bin/python" -c 'import sys; assert sys.version_info >= (3, 9)' >/dev/null 2>&1; then
    command -v python3 >/dev/null 2>&1 || ensure_debs "$PYTHON_DEBS_HINT" python3
    rm -rf "$VENV_DIR"
    mkdir -p "$TOOLS_DIR"
    if ! python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
      # Debian's python3 ships venv (with ensurepip) separately.
      rm -rf "$VENV_DIR"
      ensure_debs "$PYTHON_DEBS_HINT" python3-venv
      python3 -m venv "$VENV_DIR"
    fi
    log "created $VENV_DIR ($("$VENV_DIR/bin/python" --version))"
  fi
  local stamp="$VENV_DIR/.cyberbrain-requirements.sha256" want
  want=$(sha256_of "$PYTHON_REQUIREMENTS")
  if [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
    log "pip install -r scripts/requirements-test.txt"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PYTHON_REQUIREMENTS"
    printf '%s\n' "$want" >"$stamp"
  fi
}

# Node.js and playwright-core (npm ci into ./node_modules). Playwright drives the system
# Chromium; its own browser download (`npx playwright install`) is never used.
ensure_node_modules() {
  command -v node >/dev/null 2>&1 || ensure_debs "$NODE_DEBS_HINT" nodejs npm
  command -v npm >/dev/null 2>&1 || ensure_debs "$NODE_DEBS_HINT" npm
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= NODE_MIN_MAJOR)) ||
    die "Node.js $(node --version) is too old: playwright-core needs Node.js $NODE_MIN_MAJOR or newer on PATH"
  local stamp="$CYBERBRAIN_ROOT/node_modules/.cyberbrain-lock.sha256" want
  want=$(sha256_of "$CYBERBRAIN_ROOT/package-lock.json")
  if [[ $(cat "$stamp" 2>/dev/null) != "$want" || ! -f $CYBERBRAIN_ROOT/node_modules/playwright-core/package.json ]]; then
    log "npm ci (playwright-core)"
    (cd "$CYBERBRAIN_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$want" >"$stamp"
  fi
}

# The build plan's curl examples run verbatim in an end-to-end test (with `| jq .`).
ensure_curl_and_jq() {
  ensure_debs "install curl and jq with your package manager" curl jq
}

install_test_tools() {
  ensure_build_tools
  ensure_curl_and_jq
  ensure_chromium
  ensure_python_venv
  ensure_node_modules
  log "tools: $(rustc --version | cut -d' ' -f1-2), $("$VENV_DIR/bin/python" --version), maturin $("$VENV_DIR/bin/maturin" --version | cut -d' ' -f2), node $(node --version), $("$CHROMIUM_BIN" --version 2>/dev/null | head -n1)"
}

# The variables the end-to-end tests (tests/e2e) read to find the real components.
export_test_tool_env() {
  export CYBERBRAIN_PYTHON="$VENV_DIR/bin/python"
  CYBERBRAIN_NODE="$(command -v node)"
  export CYBERBRAIN_NODE
  export CYBERBRAIN_CHROMIUM="$CHROMIUM_BIN"
  export NODE_PATH="$CYBERBRAIN_ROOT/node_modules"
}
