#!/usr/bin/env bash
# A throwaway PostgreSQL 15 + pgvector cluster for the Postgres store's tests and for trying the
# Postgres backend locally.
#
#   scripts/pg.sh up     install what is missing, start the cluster (or find it running) and print
#                        DATABASE_URL=postgres://postgres@127.0.0.1:PORT/cyberbrain
#   scripts/pg.sh url    print the URL of the running cluster (exit 1 when none runs)
#   scripts/pg.sh down   stop the cluster (its data stays, so the next `up` is quick)
#   scripts/pg.sh purge  stop the cluster and delete its directory
#
# What `up` does, each step only when needed (a warm `up` costs well under a second):
#   1. apt-get installs postgresql-15 (and, to build pgvector, postgresql-server-dev-15 and a C
#      toolchain); `apt-get update` runs only when an install fails on stale package lists.
#   2. Builds pgvector 0.8.0 from Debian trixie's *source* package when the server has no
#      `vector` extension (bookworm has no pgvector binary package for PostgreSQL 15). The source
#      is fetched with a private apt configuration, so the system's sources stay untouched.
#   3. initdb's a cluster under $CYBERBRAIN_PG_DIR (default /tmp/cyberbrain-pg) as the `postgres`
#      user (initdb refuses root), trust authentication, listening on 127.0.0.1 only.
#   4. Starts it on a free port, creates the `cyberbrain` database and `CREATE EXTENSION vector`.
# The URL is also written to $CYBERBRAIN_PG_DIR/url. The cluster trades durability for speed
# (fsync off): it holds test data only.
set -euo pipefail
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PGVECTOR_VERSION=0.8.0
PG_DIR=${CYBERBRAIN_PG_DIR:-/tmp/cyberbrain-pg}
DATA_DIR=$PG_DIR/data
SOCKET_DIR=$PG_DIR/socket
LOG_FILE=$PG_DIR/postgres.log
URL_FILE=$PG_DIR/url
PORT_FILE=$PG_DIR/port
DB_NAME=cyberbrain
FIRST_PORT=${CYBERBRAIN_PG_PORT:-55432}
DEBS_HINT="install PostgreSQL $PG_MAJOR and its server headers with your package manager"

# The cluster runs as `postgres` when this script runs as root (initdb and postgres refuse
# root), else as the calling user.
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_config_bin() { printf '%s/pg_config' "$PG_BIN"; }

vector_control() {
  local sharedir
  sharedir=$("$(pg_config_bin)" --sharedir)
  printf '%s/extension/vector.control' "$sharedir"
}

# pgvector from Debian trixie's source package, built against the installed PostgreSQL 15.
ensure_pgvector() {
  [[ -f $(vector_control) ]] && return 0
  ensure_debs "$DEBS_HINT" "postgresql-server-dev-$PG_MAJOR" make gcc libc6-dev
  local work started=$SECONDS
  work=$(mktemp -d /tmp/cyberbrain-pgvector.XXXXXX)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
  printf 'deb-src http://deb.debian.org/debian trixie main\n' >"$work/sources.list"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    # The lists live in a private temp dir the _apt user cannot read; download as the caller.
    -o "APT::Sandbox::User=$(id -un)"
  )
  log "fetching Debian's pgvector source package (trixie) with a private apt configuration"
  apt-get "${apt_opts[@]}" -qq update ||
    die "could not read the trixie source index from deb.debian.org; pgvector cannot be fetched (check network access to deb.debian.org)"
  (cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only pgvector >/dev/null) ||
    die "apt-get source pgvector failed (trixie's deb-src index has no pgvector?)"
  local tarball
  tarball=$(find "$work/src" -maxdepth 1 -name "pgvector_*.orig.tar.gz" | head -n 1)
  [[ -n $tarball ]] || die "the pgvector source package has no .orig.tar.gz (got: $(ls "$work/src"))"
  [[ $tarball == */pgvector_$PGVECTOR_VERSION.orig.tar.gz ]] ||
    log "note: Debian's source package is $(basename "$tarball"), not $PGVECTOR_VERSION; building it (HNSW needs >= 0.5.0)"
  tar -xzf "$tarball" -C "$work/src"
  local tree
  tree=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name "pgvector-*" | head -n 1)
  [[ -n $tree ]] || die "unpacking $tarball gave no pgvector-* directory"
  log "building $(basename "$tree") against PostgreSQL $PG_MAJOR"
  # OPTFLAGS="" drops pgvector's default -march=native, so the build runs on any x86-64 CPU.
  make -C "$tree" -s -j 2 OPTFLAGS="" PG_CONFIG="$(pg_config_bin)" >"$work/build.log" 2>&1 ||
    {
      tail -n 30 "$work/build.log" >&2
      die "building pgvector failed (log above)"
    }
  as_root make -C "$tree" -s OPTFLAGS="" PG_CONFIG="$(pg_config_bin)" install >"$work/install.log" 2>&1 ||
    {
      tail -n 30 "$work/install.log" >&2
      die "installing pgvector failed (log above)"
    }
  [[ -f $(vector_control) ]] || die "pgvector installed but $(vector_control) is missing"
  rm -rf "$work"
  log "pgvector installed in $((SECONDS - started))s"
}

pg_ctl_() { as_owner "$PG_BIN/pg_ctl" -D "$DATA_DIR" "$@"; }

is_running() {
  [[ -f $DATA_DIR/postmaster.pid ]] && pg_ctl_ status >/dev/null 2>&1
}

current_port() {
  # Line 4 of postmaster.pid is the port the running server listens on.
  sed -n 4p "$DATA_DIR/postmaster.pid" 2>/dev/null
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/%s' "$1" "$DB_NAME"; }

psql_() {
  local port=$1 db=$2
  shift 2
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# Whether something already accepts TCP connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

init_cluster() {
  [[ -f $DATA_DIR/PG_VERSION ]] && return 0
  log "initdb $DATA_DIR"
  mkdir -p "$PG_DIR"
  if ((EUID == 0)); then
    chown postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" ||
      die "the postgres user cannot write to $PG_DIR (a parent directory is closed to it); set CYBERBRAIN_PG_DIR to a directory under /tmp"
  fi
  as_owner mkdir -p "$SOCKET_DIR"
  as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust -E UTF8 --no-locale \
    --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
    {
      cat "$PG_DIR/initdb.log" >&2
      die "initdb failed (log above)"
    }
}

start_cluster() {
  local port=$FIRST_PORT tries=0
  [[ -f $PORT_FILE ]] && port=$(cat "$PORT_FILE")
  while ((tries < 50)); do
    if ! port_in_use "$port"; then
      # Throwaway test data: durability is traded for speed; enough connections for several
      # test binaries' pools at once.
      # 9>&-: the server must not inherit the lock `up` holds, or it would hold it forever.
      if pg_ctl_ -l "$LOG_FILE" -w -t 60 \
        -o "-p $port -k $SOCKET_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1 9>&-; then
        printf '%s\n' "$port" >"$PORT_FILE"
        return 0
      fi
      # Lost a race for the port, or a real failure: the log says which.
      if ! grep -q "could not bind\|Address already in use" "$LOG_FILE" 2>/dev/null; then
        tail -n 20 "$LOG_FILE" >&2 || true
        die "PostgreSQL did not start (log above, full log in $LOG_FILE)"
      fi
    fi
    port=$((port + 1))
    tries=$((tries + 1))
  done
  die "no free port found from $FIRST_PORT upwards; set CYBERBRAIN_PG_PORT to another start"
}

ensure_database() {
  local port=$1
  if [[ -z $(psql_ "$port" postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ]]; then
    psql_ "$port" postgres -c "CREATE DATABASE $DB_NAME"
  fi
  psql_ "$port" "$DB_NAME" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector"
}

cmd_up() {
  mkdir -p "$(dirname "$PG_DIR")"
  # One `up` at a time per directory.
  hold_lock "$PG_DIR.lock"
  if is_running; then
    local port
    port=$(current_port)
    ensure_database "$port"
    url_for "$port" >"$URL_FILE"
    printf 'DATABASE_URL=%s\n' "$(cat "$URL_FILE")"
    return 0
  fi
  local started=$SECONDS
  [[ -x $PG_BIN/initdb ]] || ensure_debs "$DEBS_HINT" "postgresql-$PG_MAJOR"
  [[ -x $PG_BIN/initdb ]] || die "postgresql-$PG_MAJOR is installed but $PG_BIN/initdb is missing"
  ensure_pgvector
  init_cluster
  start_cluster
  local port
  port=$(current_port)
  ensure_database "$port"
  url_for "$port" >"$URL_FILE"
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$(vector_control)") on 127.0.0.1:$port (data in $DATA_DIR, ready in $((SECONDS - started))s)"
  printf 'DATABASE_URL=%s\n' "$(cat "$URL_FILE")"
}

cmd_url() {
  is_running || die "no PostgreSQL cluster is running in $PG_DIR; start one with: scripts/pg.sh up"
  url_for "$(current_port)"
  printf '\n'
}

cmd_down() {
  if is_running; then
    pg_ctl_ -m fast -w stop >/dev/null
    log "stopped the cluster in $DATA_DIR"
  else
    log "no cluster running in $PG_DIR"
  fi
  rm -f "$URL_FILE"
}

cmd_purge() {
  cmd_down
  rm -rf "$PG_DIR" "$PG_DIR.lock"
  log "removed $PG_DIR"
}

case ${1:-} in
up) cmd_up ;;
url) cmd_url ;;
down) cmd_down ;;
purge) cmd_purge ;;
*) usage ;;
esac
