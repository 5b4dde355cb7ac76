#!/usr/bin/env bash
# Builds leon-edge/face-detect:latest without network access inside `docker build` (the offline path):
#  1. finds OpenCV's haarcascade_frontalface_default.xml on the host (Debian package opencv-data;
#     installed with apt-get when missing and possible),
#  2. installs jimp and @techstark/opencv-js on the host (npm ci, only when package-lock.json changed),
#  3. builds Dockerfile.offline FROM leon-edge/action-nodejs-v20:latest with a context in .build/.
# Idempotent: when the base image, the lock file, the cascade and the Dockerfile are unchanged, it only
# says so (the fingerprint is stored as an image label). FORCE=1 rebuilds anyway.
#
# Environment: IMAGE (default leon-edge/face-detect:latest), BASE_IMAGE (default
# leon-edge/action-nodejs-v20:latest), FACE_CASCADE_XML (path of the cascade file), DOCKER (docker CLI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${IMAGE:-leon-edge/face-detect:latest}"
BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:latest}"
DOCKER="${DOCKER:-docker}"
CASCADE_NAME=haarcascade_frontalface_default.xml

say() { printf 'face-detect: %s\n' "$*"; }
die() { printf 'face-detect: ERROR: %s\n' "$*" >&2; exit 1; }

"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine is not reachable (is dockerd running? can this user use $DOCKER?)"

base_id="$("$DOCKER" image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null)" \
  || die "base image $BASE_IMAGE not found: build the Node.js runtime first (runtimes/build.sh)"

# 1. The cascade.
find_cascade() {
  local f
  for f in "${FACE_CASCADE_XML:-}" \
           "/usr/share/opencv4/haarcascades/$CASCADE_NAME" \
           "/usr/share/opencv/haarcascades/$CASCADE_NAME" \
           "/usr/local/share/opencv4/haarcascades/$CASCADE_NAME"; do
    if [ -n "$f" ] && [ -f "$f" ]; then printf '%s\n' "$f"; return 0; fi
  done
  return 1
}
if ! cascade="$(find_cascade)"; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing Debian package opencv-data for $CASCADE_NAME"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends opencv-data >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends opencv-data >/dev/null; } \
      || die "apt-get install opencv-data failed"
  fi
  cascade="$(find_cascade)" || die "$CASCADE_NAME not found. Install it (Debian/Ubuntu: sudo apt-get install opencv-data) \
or download it from the OpenCV repository (data/haarcascades) and set FACE_CASCADE_XML=/path/to/$CASCADE_NAME"
fi

# 2. The libraries, installed on the host (pure JavaScript + WebAssembly: valid for every architecture).
command -v npm >/dev/null 2>&1 || die "npm not found on this host (needed to install jimp and opencv-js)"
stamp="$here/node_modules/.leon-lock.sha256"
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "npm ci in $here"
  (cd "$here" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$lock_sum" > "$stamp"
fi

# 3. The image, unless an identical one exists.
fingerprint="$( { printf '%s\n' "$base_id" "$lock_sum"; sha256sum "$cascade" "$here/Dockerfile.offline" | cut -d' ' -f1; } \
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
cp "$cascade" "$ctx/$CASCADE_NAME"
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
# Gateways have small disks: drop the image this build replaced (unless a container still uses it).
if [ -n "$previous" ] && [ "$previous" != "$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE")" ] &&
   [ -z "$("$DOCKER" image inspect --format '{{join .RepoTags ","}}' "$previous" 2>/dev/null)" ]; then
  "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
fi
size="$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")"
say "built $IMAGE ($((size / 1000000)) MB, fingerprint $fingerprint)"
