#!/usr/bin/env bash
# Builds leon-edge/face-identify:latest without network access inside `docker build` (the offline path):
#  1. installs face-api (with its model weights), tfjs + its WebAssembly backend and jimp on the host
#     (npm ci, only when package-lock.json changed; all pure JavaScript/WebAssembly, valid on any CPU),
#  2. copies them into .build/ and prunes what Node never loads (prune.sh),
#  3. builds Dockerfile.offline FROM leon-edge/action-nodejs-v20:latest.
# Idempotent: with the base image, lock file, prune.sh and Dockerfile unchanged it only says so (the
# fingerprint is an image label). FORCE=1 rebuilds anyway.
# Environment: IMAGE (default leon-edge/face-identify:latest), BASE_IMAGE (default
# leon-edge/action-nodejs-v20:latest), DOCKER (docker CLI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${IMAGE:-leon-edge/face-identify:latest}"
BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:latest}"
DOCKER="${DOCKER:-docker}"

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

fingerprint="$( { printf '%s\n' "$base_id" "$lock_sum"; sha256sum "$here/prune.sh" "$here/Dockerfile.offline" | cut -d' ' -f1; } \
  | sha256sum | cut -c1-16)"
current="$("$DOCKER" image inspect --format '{{ index .Config.Labels "leon-edge.fingerprint" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$fingerprint" ] && [ "${FORCE:-0}" != 1 ]; then
  say "$IMAGE is up to date ($fingerprint)"
  exit 0
fi

ctx="$here/.build"
rm -rf "$ctx"
mkdir -p "$ctx"
cp -a "$here/node_modules" "$ctx/node_modules"
rm -f "$ctx/node_modules/.leon-lock.sha256"
sh "$here/prune.sh" "$ctx/node_modules"
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
