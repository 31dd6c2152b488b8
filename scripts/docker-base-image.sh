#!/usr/bin/env bash
# Builds a local base image (Debian bookworm + python3.11 + venv + pip) without any image registry:
# debootstrap a minimal root from the Debian mirror this host's apt uses, then `docker import` it.
# Usage: scripts/docker-base-image.sh [IMAGE]   (default sparsefit-base:bookworm)
# Skips the work when IMAGE already exists; FORCE=1 rebuilds it. Needs root, debootstrap and docker.
set -euo pipefail

IMAGE="${1:-sparsefit-base:bookworm}"
SUITE="${SUITE:-bookworm}"
log() { echo "docker-base-image: $*"; }

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE exists, skipping (FORCE=1 rebuilds it)"
  exit 0
fi

# The first mirror that apt on this host uses for $SUITE, from deb822 .sources files or one-line .list files.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$SUITE" '
      function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") { split(uris, u, " "); print u[1]; exit } types = suites = uris = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/  { sub(/^Types:[[:space:]]*/, "");  types = $0 }
      /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
      /^URIs:/   { sub(/^URIs:[[:space:]]*/, "");   uris = $0 }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
  done
}
MIRROR="${MIRROR:-$(apt_mirror | head -n 1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

command -v debootstrap >/dev/null || { echo "docker-base-image: debootstrap is not installed" >&2; exit 1; }

work=$(mktemp -d /var/tmp/sparsefit-base.XXXXXX)
cleanup() {
  # debootstrap may leave proc/sys mounted inside the root after a failure.
  awk -v r="$work/root" '$2 ~ "^" r { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

log "debootstrap $SUITE from $MIRROR (log: $work/debootstrap.log)"
if ! debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  [ -f "$work/root/debootstrap/debootstrap.log" ] && tail -n 30 "$work/root/debootstrap/debootstrap.log" >&2
  echo "docker-base-image: debootstrap failed" >&2
  exit 1
fi

root="$work/root"
# Slim it down: no package caches or lists, no docs; apt can fetch lists again from the same mirror.
echo "deb $MIRROR $SUITE main" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/debootstrap
: >"$root/etc/hostname"

log "importing $root as $IMAGE"
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/usr/bin/python3"]' \
  - "$IMAGE" >/dev/null
log "$IMAGE: $(docker run --rm "$IMAGE" python3 --version 2>&1)"
