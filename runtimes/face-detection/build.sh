#!/usr/bin/env bash
# Builds the face-detection images without network access inside `docker build` (the offline path):
#   leon-edge/face-detect         Node.js runtime + OpenCV as WebAssembly (examples/detect-faces.js)
#   leon-edge/face-detect-native  Python runtime + Debian's python3-opencv (examples/detect-faces.py)
#
#   bash runtimes/face-detection/build.sh [--platform linux/amd64|linux/arm64|linux/arm/v7]
#
# Tags as runtimes/build.sh (run it first, for the same platform): :latest and :<arch> for the engine's
# platform, only :<arch> for another one. The native image's base comes from Debian packages of the
# target architecture (runtimes/base/debian-image.sh). leon-edge/face-detect:
#  1. finds OpenCV's haarcascade_frontalface_default.xml on the host (Debian package opencv-data;
#     installed with apt-get when missing and possible),
#  2. installs sharp, jimp and @techstark/opencv-js on the host (npm ci, only when package-lock.json changed;
#     sharp's native part comes prebuilt per platform from the npm registry: ../base/npm-platform.sh installs
#     the target platform's packages and adds the host libraries sharp needs that the base lacks),
#  3. builds Dockerfile.offline FROM leon-edge/action-nodejs-v20:latest with a context in .build/.
# Idempotent: when the base image, the lock file, the cascade and the Dockerfile are unchanged, it only
# says so (the fingerprint is stored as an image label). FORCE=1 rebuilds anyway.
#
# Environment: IMAGE (default leon-edge/face-detect:latest), BASE_IMAGE (default
# leon-edge/action-nodejs-v20:latest), FACE_CASCADE_XML (path of the cascade file), DOCKER (docker CLI).
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
    --platform) TARGET="${2:-}"; shift 2 || { echo "face-detect: --platform needs a value" >&2; exit 1; } ;;
    --platform=*) TARGET="${1#--platform=}"; shift ;;
    *) echo "face-detect: unknown option '$1' (use --platform <os/arch>)" >&2; exit 1 ;;
  esac
done
ENGINE_PLATFORM="$(host_platform)"
platform_vars "${TARGET:-$ENGINE_PLATFORM}" || exit 1
ON_ENGINE_PLATFORM=0
[[ "$PLATFORM" == "$ENGINE_PLATFORM" ]] && ON_ENGINE_PLATFORM=1
if [[ $ON_ENGINE_PLATFORM == 1 ]]; then
  IMAGE="${IMAGE:-leon-edge/face-detect:latest}"
  BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:latest}"
else
  IMAGE="${IMAGE:-leon-edge/face-detect:$TAG_SUFFIX}"
  BASE_IMAGE="${BASE_IMAGE:-leon-edge/action-nodejs-v20:$TAG_SUFFIX}"
fi
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

# 2. The libraries, installed on the host (JavaScript + WebAssembly, and sharp's prebuilt binaries per platform).
command -v npm >/dev/null 2>&1 || die "npm not found on this host (needed to install sharp, jimp and opencv-js)"
stamp="$here/node_modules/.leon-lock.sha256"
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "npm ci in $here"
  (cd "$here" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$lock_sum" > "$stamp"
fi

modules="$(platform_node_modules "$here" "$lock_sum")"

# 3. The image, unless an identical one exists.
fingerprint="$( { printf '%s\n' "$base_id" "$lock_sum" "$PLATFORM"; sha256sum "$cascade" "$here/Dockerfile.offline" | cut -d' ' -f1; } \
  | sha256sum | cut -c1-16)"
current="$("$DOCKER" image inspect --format '{{ index .Config.Labels "leon-edge.fingerprint" }}' "$IMAGE" 2>/dev/null || true)"
build_wasm() {

ctx="$here/.build"
rm -rf "$ctx"
mkdir -p "$ctx"
cp -a "$modules" "$ctx/node_modules"
rm -f "$ctx/node_modules/.leon-lock.sha256"
cp "$cascade" "$ctx/$CASCADE_NAME"
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
# Gateways have small disks: drop the image this build replaced (unless a container still uses it).
if [ -n "$previous" ] && [ "$previous" != "$("$DOCKER" image inspect --format '{{.Id}}' "$IMAGE")" ] &&
   [ -z "$("$DOCKER" image inspect --format '{{join .RepoTags ","}}' "$previous" 2>/dev/null)" ]; then
  "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
fi
size="$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")"
say "built $IMAGE ($((size / 1000000)) MB, fingerprint $fingerprint)"
}
if [ "$current" = "$fingerprint" ] && [ "${FORCE:-0}" != 1 ]; then
  say "$IMAGE is up to date ($fingerprint)"
else
  build_wasm
fi

# 4. The native image: Debian's python3-opencv for $PLATFORM. Mesa's GL drivers (with LLVM) and the
#    video-acceleration plugins come along as dependencies but are only ever dlopen()ed for a display
#    or a GPU: left out.
NATIVE_REPO=leon-edge/face-detect-native
NATIVE_BASE="leon-edge/face-detect-native-base:$TAG_SUFFIX"
bash "$here/../base/debian-image.sh" --platform "$PLATFORM" --image "$NATIVE_BASE" \
  --packages python3,python3-opencv,opencv-data --cmd '["python3"]' \
  --drop 'usr/lib/*/dri' --drop 'usr/lib/*/libLLVM*' --drop 'usr/lib/*/libz3.so*' --drop 'usr/lib/*/mfx' \
  --drop 'usr/lib/*/vdpau' --drop 'usr/share/opencv4/lbpcascades' --drop 'usr/share/opencv4/testdata'
python_dir="$here/../python"
log="$(mktemp)"
if ! "$DOCKER" build --pull=false --network none -f "$here/Dockerfile.native" --build-arg "BASE_IMAGE=$NATIVE_BASE" \
     -t "$NATIVE_REPO:$TAG_SUFFIX" "$python_dir" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  die "docker build of $NATIVE_REPO:$TAG_SUFFIX failed"
fi
rm -f "$log"
[[ $ON_ENGINE_PLATFORM == 1 ]] && "$DOCKER" tag "$NATIVE_REPO:$TAG_SUFFIX" "$NATIVE_REPO:latest"
size="$("$DOCKER" image inspect --format '{{.Size}}' "$NATIVE_REPO:$TAG_SUFFIX")"
say "built $NATIVE_REPO:$TAG_SUFFIX ($PLATFORM, $((size / 1000000)) MB)"
