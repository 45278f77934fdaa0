# shellcheck shell=bash
# Helpers shared by the component scripts (scripts/pg.sh, scripts/llm.sh, scripts/podman.sh) and,
# through common.sh, by scripts/run, scripts/test and .ci/run. Functions only: sourcing this file
# sets no variable, shell option or trap, so every script keeps its own output and exit statuses.

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Prints the running script's header — its leading comment block up to the second bare `#` line:
# the summary and the list of subcommands — to stderr, and exits 2.
usage() {
  awk 'NR == 1 { next } /^#$/ && ++blank == 2 { exit } /^#/ { print; next } { exit }' "$0" |
    sed 's/^# \{0,1\}//' >&2
  exit 2
}

as_root() {
  if ((EUID == 0)); then
    "$@"
  else
    command -v sudo >/dev/null 2>&1 || die "root is needed to run: $*; rerun as root or install sudo"
    sudo "$@"
  fi
}

# Debian packages among "$@" that are not installed, space-separated.
missing_debs() {
  local pkg
  for pkg in "$@"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]] || printf '%s ' "$pkg"
  done
}

# ensure_debs [--with-recommends] HINT PKG...: apt-get installs the PKGs that are missing (without
# their recommended packages unless --with-recommends). The package lists are refreshed only if
# the install fails without a refresh (missing or stale lists), which keeps warm runs offline.
# HINT tells how to get the packages where there is no apt-get, e.g. "install cmake and a C++
# compiler with your package manager".
ensure_debs() {
  local apt_install=(apt-get install -y -qq --no-install-recommends)
  if [[ $1 == --with-recommends ]]; then
    apt_install=(apt-get install -y -qq)
    shift
  fi
  local hint=$1 missing
  shift
  missing=$(missing_debs "$@")
  missing=${missing% }
  [[ -n $missing ]] || return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "the packages [$missing] are needed and there is no apt-get; $hint"
  # Checked here, not left to as_root: the first install attempt below discards stderr.
  ((EUID == 0)) || command -v sudo >/dev/null 2>&1 ||
    die "the Debian packages [$missing] are needed; run as root or install them: apt-get install -y $missing"
  log "installing Debian packages: $missing"
  # shellcheck disable=SC2086 # the package list is meant to split into words
  if ! as_root env DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" $missing >/dev/null 2>&1; then
    log "refreshing package lists (apt-get update)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" $missing >/dev/null
  fi
}

# hold_lock FILE: waits for an exclusive lock on FILE, then holds it (on fd 9) until the script
# exits — one `up` at a time, as parallel test runners may all call it. A process started under
# the lock that outlives the script must not inherit fd 9 (start it with `9>&-`), or it would
# hold the lock forever.
hold_lock() {
  exec 9>"$1"
  flock 9
}
