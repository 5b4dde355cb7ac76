#!/usr/bin/env bash
# Builds the package's action runtime images:
#   leon-edge/action-nodejs-v20:latest  Node.js 20 action runtime (kind nodejs:20), runtimes/nodejs
#   leon-edge/blackbox-echo:latest      blackbox test image with baked-in code, runtimes/blackbox
#
#   bash runtimes/build.sh [--offline|--registry]
#
#   --offline   no registry needed: builds leon-edge/node-base:20 from the host's node binary
#               (runtimes/base/build-base.sh) and uses runtimes/nodejs/Dockerfile.offline
#   --registry  FROM node:20-slim (runtimes/nodejs/Dockerfile; NODE_BASE_IMAGE overrides it)
# Default: --registry when the node:20-slim image is present locally, else --offline.
# Idempotent: unchanged inputs reuse docker's layer cache (and the base image is not re-imported).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_IMAGE="leon-edge/action-nodejs-v20:latest"
ECHO_IMAGE="leon-edge/blackbox-echo:latest"
REGISTRY_BASE="${NODE_BASE_IMAGE:-node:20-slim}"

die() { echo "runtimes/build.sh: $*" >&2; exit 1; }

MODE=""
case "${1:-}" in
  --offline) MODE=offline ;;
  --registry) MODE=registry ;;
  "") ;;
  -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option '$1' (use --offline or --registry)" ;;
esac

command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 ||
  die "Docker is not reachable (docker info failed). Start the Docker daemon or set DOCKER_HOST."

if [[ -z "$MODE" ]]; then
  if docker image inspect "$REGISTRY_BASE" >/dev/null 2>&1; then MODE=registry; else MODE=offline; fi
fi
echo "runtimes/build.sh: mode $MODE"

# The proxy's dependencies are installed on the host and copied into the image.
NODEJS="$HERE/nodejs"
if [[ ! -f "$NODEJS/node_modules/.package-lock.json" ||
      "$NODEJS/package-lock.json" -nt "$NODEJS/node_modules/.package-lock.json" ]]; then
  command -v npm >/dev/null || die "npm is needed to install runtimes/nodejs dependencies"
  echo "runtimes/build.sh: npm ci --omit=dev in runtimes/nodejs"
  (cd "$NODEJS" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# build <image> <context> [docker build args…]: quiet build, then one line about the result.
build() {
  local image="$1" context="$2"; shift 2
  local before after log
  before="$(image_id "$image")"
  log="$(mktemp)"
  if ! docker build --pull=false -t "$image" "$@" "$context" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "docker build of $image failed"
  fi
  rm -f "$log"
  after="$(image_id "$image")"
  local size
  size="$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
  if [[ "$before" == "$after" ]]; then
    echo "runtimes/build.sh: $image unchanged (${after:7:12}, $size)"
  else
    echo "runtimes/build.sh: built $image (${after:7:12}, $size)"
  fi
}

if [[ "$MODE" == offline ]]; then
  bash "$HERE/base/build-base.sh"
  # Nothing in these Dockerfiles downloads; --network none makes sure of it.
  build "$NODE_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile.offline" --network none
else
  build "$NODE_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile" --build-arg "BASE_IMAGE=$REGISTRY_BASE"
fi
build "$ECHO_IMAGE" "$HERE/blackbox" -f "$HERE/blackbox/Dockerfile" --network none \
  --build-arg "ACTION_IMAGE=$NODE_IMAGE"
echo "runtimes/build.sh: done ($NODE_IMAGE, $ECHO_IMAGE)"
