# shellcheck shell=bash
# Shared by scripts/run, scripts/test and .ci/run: where things live, and how a step reports.
# Source it; it sets no shell options of its own (each caller runs with `set -euo pipefail`).

CYBERBRAIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# One warm target directory outside the clone, shared by every build, test and CI run.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cyberbrain/target}"
TOOLS_DIR="$CYBERBRAIN_ROOT/.tools"
# shellcheck disable=SC2034 # used by install.sh and the scripts that source this file
VENV_DIR="$TOOLS_DIR/venv"

# log, die, as_root, ensure_debs, …
# shellcheck source=scripts/lib/system.sh
source "$CYBERBRAIN_ROOT/scripts/lib/system.sh"
# A step's error follows its output: set it off with a blank line (replaces system.sh's die).
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

# step NAME COMMAND...: runs one stage, remembers how long it took, and — through the EXIT trap
# below — names the stage if the script dies inside it (set -e stays in force inside COMMAND
# because it is called as a plain statement, never from a condition).
CURRENT_STEP=""
STEP_HINT=""
STEP_TIMINGS=()
SCRIPT_STARTED=$SECONDS

step() {
  local name=$1
  shift
  CURRENT_STEP=$name
  local started=$SECONDS
  printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$name" >&2
  "$@"
  STEP_TIMINGS+=("$name: $((SECONDS - started))s")
  CURRENT_STEP=""
  STEP_HINT=""
}

report_failed_step() {
  local rc=$?
  if ((rc != 0)) && [[ -n $CURRENT_STEP ]]; then
    printf '\nFAILED: step "%s" exited with status %d.\n' "$CURRENT_STEP" "$rc" >&2
    [[ -z $STEP_HINT ]] || printf 'hint: %s\n' "$STEP_HINT" >&2
  fi
}
trap report_failed_step EXIT

print_step_timings() {
  local line
  printf '\nStep timings (total %ss):\n' "$((SECONDS - SCRIPT_STARTED))" >&2
  for line in "${STEP_TIMINGS[@]}"; do
    printf '  %s\n' "$line" >&2
  done
}

require_cargo() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo was not found on PATH. Install the Rust toolchain named in rust-toolchain.toml (rustup), then rerun."
  cargo --version >/dev/null 2>&1 ||
    die "cargo is installed but the toolchain pinned in rust-toolchain.toml is not; run: rustup toolchain install \"$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$CYBERBRAIN_ROOT/rust-toolchain.toml")\""
}
