#!/usr/bin/env bash
# Podman as a local Docker-Engine-API container engine, for the container tests and for trying
# `service_map` / container `log_triage` without a Docker daemon. No registry is needed.
#
#   scripts/podman.sh up     install what is missing, start the API service (or find it running)
#                            and print DOCKER_HOST=unix://$CYBERBRAIN_PODMAN_DIR/podman.sock
#   scripts/podman.sh url    print the DOCKER_HOST of the running service (exit 1 when none runs)
#   scripts/podman.sh down   remove this engine's containers and networks, stop the service
#   scripts/podman.sh purge  `down`, then delete the work dir (storage, image, configs)
#
# What `up` does, each step only when needed (a warm `up` costs well under a second):
#   1. apt-get installs podman, runc and busybox-static; `apt-get update` runs only when an
#      install fails on stale package lists.
#   2. Writes containers.conf / storage.conf under $CYBERBRAIN_PODMAN_DIR (default
#      /tmp/cyberbrain-podman): storage, run state, events and network configs stay there.
#   3. Builds `localhost/busybox:latest` from the static busybox binary (`podman import`).
#   4. Starts `podman system service` on a unix socket in its own session with its own stdio, and
#      waits for `/_ping`.
# Fixtures (networks, containers) are NOT created here: tests create and remove their own. To
# use the podman CLI against the same engine, export the CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF this script prints with `up`.
set -euo pipefail
# shellcheck source=scripts/lib/system.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"

W=${CYBERBRAIN_PODMAN_DIR:-/tmp/cyberbrain-podman}
SOCK=$W/podman.sock
PID_FILE=$W/service.pid
SERVICE_LOG=$W/service.log
IMAGE=localhost/busybox:latest
export CONTAINERS_CONF=$W/etc/containers.conf
export CONTAINERS_STORAGE_CONF=$W/etc/storage.conf

# Why each setting: crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
# supported"), runc works on v1, hybrid and v2; sandboxes without CAP_SYS_RESOURCE cannot raise
# nofile/nproc to podman's 1048576 defaults, and nproc must stay at or below 32768.
write_configs() {
  mkdir -p "$W"/{etc,storage,run,tmp,netconf}
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run"
EOF
  cat >"$CONTAINERS_CONF" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/tmp/events.log"
tmp_dir = "$W/tmp"

[network]
network_backend = "netavark"
network_config_dir = "$W/netconf"
EOF
}

# podman CLI calls never share the caller's pipes: podman may leave helpers (aardvark-dns,
# conmon) running that would hold a CI step's stdout open.
podman_() { podman "$@" </dev/null 2>>"$SERVICE_LOG"; }

build_image() {
  podman_ image exists "$IMAGE" && return 0
  local busybox rootfs applet
  busybox=$(dpkg -L busybox-static | grep '/bin/busybox$' | head -n 1)
  [[ -x $busybox ]] || die "busybox-static is installed but its binary was not found (dpkg -L busybox-static)"
  rootfs=$(mktemp -d "$W/tmp/rootfs.XXXXXX")
  mkdir -p "$rootfs"/{bin,etc,tmp,www}
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  echo ok >"$rootfs/www/index.html"
  tar -C "$rootfs" -c . |
    podman import -q --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null 2>>"$SERVICE_LOG" ||
    {
      rm -rf "$rootfs"
      tail -n 20 "$SERVICE_LOG" >&2
      die "podman import of $IMAGE failed (log above)"
    }
  rm -rf "$rootfs"
  log "built $IMAGE from $busybox"
}

ping_ok() { curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }

service_running() {
  [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null && ping_ok
}

start_service() {
  rm -f "$SOCK"
  # setsid + own stdio: the service and the helpers it spawns must not hold the caller's pipes
  # or its terminal. 9>&-: nor the lock `up` holds. --chdir: conmon inherits the working directory
  # and fails every container start once it is gone (a deleted clone), so use the work dir.
  setsid env --chdir="$W" podman system service --time=0 "unix://$SOCK" </dev/null >>"$SERVICE_LOG" 2>&1 9>&- &
  echo $! >"$PID_FILE"
  local _
  for _ in $(seq 200); do
    ping_ok && return 0
    kill -0 "$(cat "$PID_FILE")" 2>/dev/null || break
    sleep 0.05
  done
  tail -n 20 "$SERVICE_LOG" >&2 || true
  die "podman system service did not answer on $SOCK (log above, full log in $SERVICE_LOG)"
}

print_env() {
  printf 'DOCKER_HOST=unix://%s\n' "$SOCK"
  printf 'CONTAINERS_CONF=%s\n' "$CONTAINERS_CONF" >&2
  printf 'CONTAINERS_STORAGE_CONF=%s\n' "$CONTAINERS_STORAGE_CONF" >&2
}

cmd_up() {
  ((EUID == 0)) || die "run as root: this recipe is rootful podman (rootless podman needs a user namespace setup this script does not make)"
  mkdir -p "$W"
  # One `up` at a time per work dir.
  hold_lock "$W.lock"
  if service_running; then
    print_env
    return 0
  fi
  local started=$SECONDS
  # With its recommended packages, as this recipe has always installed podman.
  ensure_debs --with-recommends "install podman, runc and a static busybox with your package manager" \
    podman runc busybox-static
  write_configs
  build_image
  start_service
  log "podman $(podman --version | awk '{print $3}') Docker API on $SOCK (work dir $W, ready in $((SECONDS - started))s)"
  print_env
}

cmd_url() {
  service_running || die "no podman API service is running in $W; start one with: scripts/podman.sh up"
  printf 'unix://%s\n' "$SOCK"
}

cmd_down() {
  if [[ -f $CONTAINERS_CONF ]] && command -v podman >/dev/null 2>&1; then
    # This engine's storage is private to the work dir: everything in it is ours.
    podman_ rm -af -t 0 >/dev/null || true
    podman_ network prune -f >/dev/null || true
  fi
  if [[ -f $PID_FILE ]]; then
    local pid
    pid=$(cat "$PID_FILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      local _
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      log "stopped the podman API service (pid $pid)"
    fi
    rm -f "$PID_FILE"
  else
    log "no podman API service recorded in $W"
  fi
  rm -f "$SOCK"
}

cmd_purge() {
  cmd_down
  if [[ -f $CONTAINERS_CONF ]] && command -v podman >/dev/null 2>&1; then
    # Unmounts and deletes the overlay layers properly; a plain rm -rf can trip on mounts.
    podman_ system reset -f >/dev/null || true
  fi
  rm -rf "$W" "$W.lock"
  log "removed $W"
}

case ${1:-} in
up) cmd_up ;;
url) cmd_url ;;
down) cmd_down ;;
purge) cmd_purge ;;
*) usage ;;
esac
