#!/usr/bin/env bash
# `make docker-test`: build the image, run it, run the README walkthrough against it, check that the
# data volume survives a restart, and smoke-test docker-compose.yml. Not part of `make test`.
#
# Needs root when it has to install or start the Docker engine (Debian: docker.io, debootstrap,
# docker-compose). No image registry is needed: the base image is made locally with debootstrap
# (scripts/docker-base-image.sh). pip inside the build uses the host's pip index and CA settings.
#
# Environment:
#   BASE_IMAGE          base image for the build (default sparsefit-base:bookworm, made locally)
#   DOCKER_TEST_PORT    host port the container is published on (default 18000; compose smoke +1)
#   DOCKER_TEST_NETWORK host: skip port publishing, run with --network host (the automatic fallback)
#   DOCKERD_ARGS        extra dockerd flags when this script starts the engine itself
#   WALKTHROUGH         the walkthrough script (default examples/walkthrough.sh), run as: bash it BASE_URL
#   KEEP_IMAGE=0        also remove the built image at the end (kept by default: the next build is cached)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=sparsefit:test
NAME=sparsefit-test
VOLUME=sparsefit-test-data
PROJECT=sparsefit-docker-test
BASE_IMAGE="${BASE_IMAGE:-sparsefit-base:bookworm}"
PORT="${DOCKER_TEST_PORT:-18000}"
COMPOSE_PORT=$((PORT + 1))
WALKTHROUGH="${WALKTHROUGH:-examples/walkthrough.sh}"
STATE_DIR=/var/tmp/sparsefit-docker-test
DOCKERD_LOG="$STATE_DIR/dockerd.log"

log() { echo "docker-test: $*"; }
die() { echo "docker-test: FAILED: $*" >&2; exit 1; }
mkdir -p "$STATE_DIR"

# --- the engine ------------------------------------------------------------------------------------
STARTED_DOCKERD_PID=""
COMPOSE=()
NETWORK_MODE="${DOCKER_TEST_NETWORK:-publish}"  # publish (-p 127.0.0.1:PORT:8000) or host

apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
  log "installing $* with apt-get"
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq >"$STATE_DIR/apt.log" 2>&1 || { tail -n 20 "$STATE_DIR/apt.log" >&2; die "apt-get update"; }
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$STATE_DIR/apt.log" 2>&1 \
    || { tail -n 20 "$STATE_DIR/apt.log" >&2; die "apt-get install $*"; }
}

engine_up() { docker info >/dev/null 2>&1; }

# Starts dockerd with the given extra flags; returns non-zero if it does not answer within 60 s.
start_dockerd() {
  # shellcheck disable=SC2086  # DOCKERD_ARGS is a list of flags
  dockerd --host unix:///var/run/docker.sock "$@" ${DOCKERD_ARGS:-} >>"$DOCKERD_LOG" 2>&1 &
  STARTED_DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    engine_up && return 0
    kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
  wait "$STARTED_DOCKERD_PID" 2>/dev/null || true
  STARTED_DOCKERD_PID=""
  return 1
}

stop_dockerd() {
  [ -n "$STARTED_DOCKERD_PID" ] || return 0
  log "stopping the dockerd this script started (pid $STARTED_DOCKERD_PID)"
  kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break; sleep 1; done
  STARTED_DOCKERD_PID=""
}

ensure_engine() {
  command -v docker >/dev/null || apt_install docker.io
  if engine_up; then
    log "engine: using the running Docker engine ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  command -v dockerd >/dev/null || apt_install docker.io
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting dockerd needs root"
  : >"$DOCKERD_LOG"
  log "engine: starting dockerd (log: $DOCKERD_LOG)"
  if start_dockerd; then :
  else
    # Sandboxes without overlayfs or iptables: the slow but portable storage driver, no NAT rules
    # (the build then uses the host's network; published ports still work through docker-proxy).
    log "engine: dockerd did not come up with defaults; retrying with --storage-driver=vfs --iptables=false"
    start_dockerd --storage-driver=vfs --iptables=false \
      || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd does not start here (see $DOCKERD_LOG)"; }
  fi
  log "engine: dockerd $(docker version -f '{{.Server.Version}}') up, storage $(docker info -f '{{.Driver}}')"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null; then COMPOSE=(docker-compose)
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # Debian bookworm has no compose v2 plugin package; docker-compose is v1 (1.29), which reads the same file.
    apt_install docker-compose && COMPOSE=(docker-compose)
  fi
}

# --- pip settings of the host, for the build -------------------------------------------------------
BUILD_ARGS=()
BUILD_ENV=()  # the same settings as environment variables, for compose
pip_build_args() {
  local py
  py=$(command -v python3 || true)
  [ -n "$py" ] || return 0
  # index-url, extra-index-url and trusted-host as this host's pip sees them (environment over files);
  # file:// indexes and find-links exist only on the host and are left out.
  local settings
  settings=$("$py" - <<'EOF' || true
import os, re, subprocess
out = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
vals = {}
for line in out.splitlines():
    m = re.match(r"^([^.]*)\.([a-z-]+)='(.*)'$", line)
    if not m:
        continue
    section, key, value = m.groups()
    rank = {"global": 0, "install": 1, ":env:": 2}.get(section)
    if rank is not None and rank >= vals.get(key, (-1, ""))[0]:
        vals[key] = (rank, value)
def get(key):
    return os.environ.get("PIP_" + key.upper().replace("-", "_")) or vals.get(key, (0, ""))[1]
def remote(value):
    return " ".join(u for u in value.split() if u.startswith(("http://", "https://")))
print("PIP_INDEX_URL=" + remote(get("index-url")))
print("PIP_EXTRA_INDEX_URL=" + remote(get("extra-index-url")))
print("PIP_TRUSTED_HOST=" + get("trusted-host"))
print("PIP_CERT=" + get("cert"))
EOF
)
  local line key value cert=""
  while IFS= read -r line; do
    key=${line%%=*}; value=${line#*=}
    [ -n "$value" ] || continue
    case "$key" in
      PIP_CERT) cert=$value ;;
      *) BUILD_ARGS+=(--build-arg "$key=$value"); BUILD_ENV+=("$key=$value"); log "build: passing the host's $key" ;;
    esac
  done <<<"$settings"
  # pip's CA bundle on the host may hold authorities that the base image lacks (a TLS-intercepting
  # proxy): pass those that are not among the distribution's own, as PEM text.
  local extra="${EXTRA_CA_CERTS:-}"
  if [ -z "$extra" ] && [ -n "$cert" ] && [ -r "$cert" ]; then
    extra=$("$py" - "$cert" <<'EOF'
import pathlib, re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
def body(block):
    return "".join(block.split("\n")[1:-1]).replace(" ", "")
known = set()
for d in ("/usr/share/ca-certificates",):
    for f in pathlib.Path(d).rglob("*.crt"):
        known.update(body(b) for b in pem.findall(f.read_text(errors="replace")))
text = pathlib.Path(sys.argv[1]).read_text(errors="replace")
print("\n".join(b for b in pem.findall(text) if body(b) not in known))
EOF
)
  fi
  if [ -n "$extra" ]; then
    BUILD_ARGS+=(--build-arg "EXTRA_CA_CERTS=$extra")
    BUILD_ENV+=("EXTRA_CA_CERTS=$extra")
    log "build: passing $(grep -c 'BEGIN CERTIFICATE' <<<"$extra") extra CA certificate(s) from the host's pip config"
  fi
}

# --- the container ----------------------------------------------------------------------------------
cleanup() {
  local rc=$?
  set +e
  if engine_up; then
    if [ $rc -ne 0 ] && docker container inspect "$NAME" >/dev/null 2>&1; then
      echo "docker-test: last container logs:" >&2
      docker logs --tail 40 "$NAME" >&2 2>&1
    fi
    docker rm -f "$NAME" >/dev/null 2>&1
    docker volume rm "$VOLUME" >/dev/null 2>&1
    if [ ${#COMPOSE[@]} -gt 0 ]; then
      SPARSEFIT_IMAGE=$IMAGE SPARSEFIT_PUBLISH_PORT=$COMPOSE_PORT BASE_IMAGE=$BASE_IMAGE \
        "${COMPOSE[@]}" -p "$PROJECT" down -v --remove-orphans >/dev/null 2>&1
    fi
    [ "${KEEP_IMAGE:-1}" = 0 ] && docker image rm "$IMAGE" >/dev/null 2>&1
  fi
  stop_dockerd
  [ $rc -eq 0 ] && echo "docker-test: OK"
  exit $rc
}
trap cleanup EXIT

# Waits until GET URL answers 2xx; returns non-zero after TIMEOUT seconds.
wait_http() {
  local url=$1 timeout=${2:-60}
  for _ in $(seq 1 "$timeout"); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

# Waits until the container's HEALTHCHECK reports healthy (the Dockerfile's or compose's).
wait_healthy() {
  local c=$1 timeout=${2:-60} status=""
  for _ in $(seq 1 "$timeout"); do
    status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c" 2>/dev/null || echo gone)
    case "$status" in healthy) return 0 ;; none | gone) break ;; esac
    sleep 1
  done
  echo "docker-test: $c health: $status" >&2
  docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$c" 2>/dev/null | tail -n 5 >&2
  return 1
}

run_container() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  if [ "$NETWORK_MODE" = publish ]; then
    # The container listens on 0.0.0.0, which needs keys or an explicit opt-in; the port is published
    # on the host's loopback only, so the test opts in.
    docker run -d --init --name "$NAME" -p "127.0.0.1:$PORT:8000" -e SPARSEFIT_ALLOW_ANONYMOUS=true \
      -v "$VOLUME:/data" "$IMAGE" >/dev/null
  else
    docker run -d --init --name "$NAME" --network host -e SPARSEFIT_HOST=127.0.0.1 -e "SPARSEFIT_PORT=$PORT" \
      -v "$VOLUME:/data" "$IMAGE" >/dev/null
  fi
}

# --- the steps --------------------------------------------------------------------------------------
ensure_engine
ensure_compose

# Leftovers of an interrupted run.
docker rm -f "$NAME" >/dev/null 2>&1 || true
docker volume rm "$VOLUME" >/dev/null 2>&1 || true

if [ "$BASE_IMAGE" = sparsefit-base:bookworm ]; then
  command -v debootstrap >/dev/null || docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || apt_install debootstrap
  bash scripts/docker-base-image.sh "$BASE_IMAGE" | sed 's/^/docker-test: /'
fi

pip_build_args
build_net=()
# Without NAT rules (--iptables=false) build containers reach the registries only through the host's network.
if [ -n "$STARTED_DOCKERD_PID" ] && tr '\0' ' ' <"/proc/$STARTED_DOCKERD_PID/cmdline" | grep -q -- '--iptables=false'; then
  build_net=(--network host)
fi
log "build: docker build ${build_net[*]:+${build_net[*]} }--build-arg BASE_IMAGE=$BASE_IMAGE -t $IMAGE . (log: $STATE_DIR/build.log)"
old_image=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
start=$SECONDS
docker build "${build_net[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" "${BUILD_ARGS[@]}" \
  -t "$IMAGE" . >"$STATE_DIR/build.log" 2>&1 || { tail -n 30 "$STATE_DIR/build.log" >&2; die "docker build"; }
# The image this build replaced, and with it the layers of its own (its big venv layer among them).
new_image=$(docker image inspect -f '{{.Id}}' "$IMAGE")
[ -z "$old_image" ] || [ "$old_image" = "$new_image" ] || docker image rm "$old_image" >/dev/null 2>&1 || true
log "build: done in $((SECONDS - start)) s, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

BASE_URL="http://127.0.0.1:$PORT"
log "run: $NAME on $BASE_URL ($NETWORK_MODE) with volume $VOLUME"
run_container
if ! wait_http "$BASE_URL/healthz" 60; then
  if [ "$NETWORK_MODE" = publish ] && [ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ] && wait_healthy "$NAME" 30; then
    # The service answers inside the container, but the published port does not reach it.
    log "run: port publishing does not work here; falling back to --network host with SPARSEFIT_PORT=$PORT"
    NETWORK_MODE=host
    run_container
    wait_http "$BASE_URL/healthz" 60 || die "$BASE_URL/healthz did not answer within 60 s (--network host)"
  else
    die "$BASE_URL/healthz did not answer within 60 s"
  fi
fi
wait_healthy "$NAME" 60 || die "the image's HEALTHCHECK did not report healthy"
user=$(docker exec "$NAME" id -u)
[ "$user" != 0 ] || die "the service runs as root"
log "run: healthy ($(curl -fsS "$BASE_URL/version" | tr -d '\n' | cut -c1-120)), uid $user"

if [ -f "$WALKTHROUGH" ]; then
  log "walkthrough: bash $WALKTHROUGH $BASE_URL (log: $STATE_DIR/walkthrough.log)"
  bash "$WALKTHROUGH" "$BASE_URL" >"$STATE_DIR/walkthrough.log" 2>&1 \
    || { tail -n 30 "$STATE_DIR/walkthrough.log" >&2; die "walkthrough"; }
  log "walkthrough: passed"
else
  log "walkthrough: $WALKTHROUGH does not exist yet; checked /healthz and /version only"
fi

# Persistence: a dataset of our own as well as the walkthrough's, then a restart.
id=$(curl -fsS -X POST -H 'Content-Type: text/csv' --data-binary @examples/diabetes.csv \
  "$BASE_URL/v1/datasets?name=docker-test-persistence" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') \
  || die "uploading examples/diabetes.csv"
total_of() { curl -fsS "$BASE_URL/v1/datasets?limit=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])'; }
before=$(total_of)
log "restart: $before dataset(s) stored; docker restart $NAME"
docker restart -t 10 "$NAME" >/dev/null
wait_http "$BASE_URL/healthz" 60 || die "$BASE_URL/healthz did not answer within 60 s after the restart"
after=$(total_of)
curl -fsS -o /dev/null "$BASE_URL/v1/datasets/$id" || die "dataset $id is gone after the restart"
if [ "$after" -eq 0 ] || [ "$after" != "$before" ]; then die "datasets before the restart: $before, after: $after"; fi
log "restart: $after dataset(s) still listed after the restart"
docker rm -f "$NAME" >/dev/null

# docker-compose.yml: the same image, its own named volume and healthcheck.
if [ ${#COMPOSE[@]} -eq 0 ]; then
  log "compose: neither 'docker compose' nor docker-compose is available; skipped"
elif [ "$NETWORK_MODE" != publish ]; then
  log "compose: skipped in --network host mode (its file publishes a port)"
else
  export SPARSEFIT_IMAGE=$IMAGE SPARSEFIT_PUBLISH_PORT=$COMPOSE_PORT BASE_IMAGE
  "${COMPOSE[@]}" -p "$PROJECT" config -q
  # --build: the compose file's own build section, with the same build args (all layers are cached).
  log "compose: ${COMPOSE[*]} -p $PROJECT up -d --build (port $COMPOSE_PORT, log: $STATE_DIR/compose.log)"
  env "${BUILD_ENV[@]}" "${COMPOSE[@]}" -p "$PROJECT" up -d --build >"$STATE_DIR/compose.log" 2>&1 \
    || { tail -n 20 "$STATE_DIR/compose.log" >&2; die "compose up"; }
  grep -q -E 'Using cache|CACHED' "$STATE_DIR/compose.log" || log "compose: note: the compose build did not reuse the cache"
  cid=$("${COMPOSE[@]}" -p "$PROJECT" ps -q sparsefit)
  wait_http "http://127.0.0.1:$COMPOSE_PORT/healthz" 60 || die "compose: /healthz did not answer within 60 s"
  wait_healthy "$cid" 60 || die "compose: the healthcheck did not report healthy"
  mounts=$(docker inspect -f '{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}' "$cid")
  case "$mounts" in *"volume:${PROJECT}_sparsefit-data:/data"*) ;; *) die "compose: /data is not the named volume ($mounts)" ;; esac
  log "compose: healthy, /data on volume ${PROJECT}_sparsefit-data"
  "${COMPOSE[@]}" -p "$PROJECT" down -v >>"$STATE_DIR/compose.log" 2>&1
fi
