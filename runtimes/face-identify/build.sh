#!/usr/bin/env bash
# Builds leon-edge/face-identify without network access inside `docker build` (the offline path):
#
#   bash runtimes/face-identify/build.sh [--platform linux/amd64|linux/arm64|linux/arm/v7]
#
#  1. installs face-api (with its model weights), tfjs + its WebAssembly backend, sharp and jimp on the host
#     (npm ci, only when package-lock.json changed). All are JavaScript/WebAssembly except sharp, whose
#     native part (libvips) comes prebuilt from the npm registry in one package per platform
#     (@img/sharp-linux-x64, -arm64, -arm and their @img/sharp-libvips-linux-* libraries, glibc >= 2.36):
#     for the engine's platform npm ci installs it in node_modules/; for another platform a second npm ci
#     with --os/--cpu/--libc installs that platform's packages in .platform/<arch>/node_modules/,
#  2. copies them into .build/ and prunes what Node never loads (prune.sh),
#  3. builds Dockerfile.offline FROM leon-edge/action-nodejs-v20 of that platform (COPY only: no emulation).
# Tags as runtimes/build.sh (run it first, for the same platform): :latest for the engine's platform, only
# :<arch> (amd64, arm64, armv7) for another one.
# Idempotent: with the base image, lock file, prune.sh and Dockerfile unchanged it only says so (the
# fingerprint is an image label). FORCE=1 rebuilds anyway.
# Environment: IMAGE (default leon-edge/face-identify:latest, or :<arch>), BASE_IMAGE (default
# leon-edge/action-nodejs-v20:latest, or :<arch>), DOCKER (docker CLI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOCKER="${DOCKER:-docker}"
# shellcheck source=../base/platform.sh
source "$here/../base/platform.sh"
# shellcheck source=../base/npm-platform.sh
source "$here/../base/npm-platform.sh"
TARGET=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --platform) TARGET="${2:-}"; shift 2 || { echo "face-identify: --platform needs a value" >&2; exit 1; } ;;
    --platform=*) TARGET="${1#--platform=}"; shift ;;
    *) echo "face-identify: unknown option '$1' (use --platform <os/arch>)" >&2; exit 1 ;;
  esac
done
ENGINE_PLATFORM="$(host_platform)"
platform_vars "${TARGET:-$ENGINE_PLATFORM}" || exit 1
if [[ "$PLATFORM" == "$ENGINE_PLATFORM" ]]; then
  IMAGE="${IMAGE:-leon-edge/face-identify:latest}"
  BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:latest}"
else
  IMAGE="${IMAGE:-leon-edge/face-identify:$TAG_SUFFIX}"
  BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:$TAG_SUFFIX}"
fi

say() { printf 'face-identify: %s\n' "$*"; }
die() { printf 'face-identify: ERROR: %s\n' "$*" >&2; exit 1; }

"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine is not reachable (is dockerd running? can this user use $DOCKER?)"
base_id="$("$DOCKER" image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null)" \
  || die "base image $BASE_IMAGE not found: build the Node.js runtime first (runtimes/build.sh)"

command -v npm >/dev/null 2>&1 || die "npm not found on this host (needed to install face-api, tfjs and jimp)"
stamp="$here/node_modules/.leon-lock.sha256"
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "npm ci in $here"
  # --ignore-scripts: core-js's postinstall only prints a banner; nothing here needs an install script.
  (cd "$here" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$lock_sum" > "$stamp"
fi
modules="$(platform_node_modules "$here" "$lock_sum")"

fingerprint="$( { printf '%s\n' "$base_id" "$lock_sum" "$PLATFORM"; sha256sum "$here/prune.sh" "$here/Dockerfile.offline" | cut -d' ' -f1; } \
  | sha256sum | cut -c1-16)"
current="$("$DOCKER" image inspect --format '{{ index .Config.Labels "leon-edge.fingerprint" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$fingerprint" ] && [ "${FORCE:-0}" != 1 ]; then
  say "$IMAGE is up to date ($fingerprint)"
  exit 0
fi

ctx="$here/.build"
rm -rf "$ctx"
mkdir -p "$ctx"
cp -a "$modules" "$ctx/node_modules"
rm -f "$ctx/node_modules/.leon-lock.sha256"
sh "$here/prune.sh" "$ctx/node_modules"
add_missing_host_libs "$BASE_IMAGE" "$ctx"
say "building $IMAGE from $BASE_IMAGE"
previous="$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
log="$(mktemp)"
if ! "$DOCKER" build --pull=false -f "$here/Dockerfile.offline" \
     --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "FINGERPRINT=$fingerprint" -t "$IMAGE" "$ctx" >"$log" 2>&1; then
  cat "$log" >&2
  rm -rf "$ctx" "$log"
  die "docker build of $IMAGE failed"
fi
rm -rf "$ctx" "$log"
# Gateways have small disks: drop the image this build replaced (unless it is still tagged or used).
if [ -n "$previous" ] && [ "$previous" != "$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE")" ] &&
   [ -z "$("$DOCKER" image inspect --format '{{join .RepoTags ","}}' "$previous" 2>/dev/null)" ]; then
  "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
fi
size="$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")"
say "built $IMAGE ($((size / 1000000)) MB, fingerprint $fingerprint)"
