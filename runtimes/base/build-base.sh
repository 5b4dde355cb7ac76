#!/usr/bin/env bash
# Builds the base image leon-edge/node-base:20 WITHOUT a container registry: a tiny root
# filesystem is assembled on the host (the host's node binary, the shared libraries ldd lists
# for it, /etc/passwd + /etc/group with the non-root user "node" (uid 1000), /tmp 1777, CA
# certificates when the host has them) and turned into an image with `docker import`.
#
#   bash runtimes/base/build-base.sh [--force]
#
# Environment: NODE_BIN (default: the first Node $NODE_MAJOR binary found, NODE_MAJOR=20),
# BASE_IMAGE (default leon-edge/node-base:20).
# Skips the import when an image built from the same inputs already exists (label
# leon-edge.base.fingerprint), so dependent `docker build`s keep their layer cache.
set -euo pipefail

IMAGE="${BASE_IMAGE:-leon-edge/node-base:20}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/.build"
ROOTFS="$WORK/rootfs"

die() { echo "build-base: $*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker CLI is not installed"
docker info >/dev/null 2>&1 || die "Docker is not reachable (docker info failed); start dockerd or set DOCKER_HOST"
command -v ldd >/dev/null || die "ldd is required to find node's shared libraries"

# The node binary: $NODE_BIN, else the first Node $NODE_MAJOR found on PATH or in the usual
# places (PATH may start with a project's node_modules/.bin holding another major version).
NODE_MAJOR="${NODE_MAJOR:-20}"
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true; }
if [[ -z "${NODE_BIN:-}" ]]; then
  for candidate in $(type -ap node) /usr/local/bin/node /usr/bin/node; do
    candidate="$(readlink -f "$candidate")"
    if [[ -x "$candidate" && "$(node_major "$candidate")" == "$NODE_MAJOR" ]]; then
      NODE_BIN="$candidate"
      break
    fi
  done
  [[ -n "${NODE_BIN:-}" ]] || die "no Node $NODE_MAJOR binary on PATH, /usr/local/bin or /usr/bin (set NODE_BIN)"
fi
NODE_BIN="$(readlink -f "$NODE_BIN")"
[[ -x "$NODE_BIN" ]] || die "NODE_BIN=$NODE_BIN is not executable"
NODE_VERSION="$("$NODE_BIN" -p process.versions.node)"
[[ "${NODE_VERSION%%.*}" == "$NODE_MAJOR" ]] ||
  echo "build-base: warning: $NODE_BIN is Node $NODE_VERSION, the image is tagged $IMAGE" >&2

# Shared libraries: "libx.so => /path (addr)" and the loader "/lib64/ld-linux-….so.2 (addr)".
mapfile -t LIBS < <(ldd "$NODE_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[[ ${#LIBS[@]} -gt 0 ]] || die "ldd found no shared libraries for $NODE_BIN (a static binary needs none; edit this script)"
CA_BUNDLE=""
for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  [[ -f "$f" ]] && { CA_BUNDLE="$f"; break; }
done

FINGERPRINT="$( { sha256sum "${BASH_SOURCE[0]}" "$NODE_BIN" "${LIBS[@]}" | awk '{print $1}'; echo "$IMAGE"; } | sha256sum | cut -c1-16)"
if [[ $FORCE -eq 0 ]] &&
   [[ "$(docker image inspect -f '{{index .Config.Labels "leon-edge.base.fingerprint"}}' "$IMAGE" 2>/dev/null)" == "$FINGERPRINT" ]]; then
  echo "build-base: $IMAGE is up to date (node $NODE_VERSION, fingerprint $FINGERPRINT)"
  exit 0
fi

echo "build-base: assembling rootfs for node $NODE_VERSION from $NODE_BIN"
rm -rf "$WORK"
mkdir -p "$ROOTFS"/{usr/local/bin,etc,tmp,home/node,nodejsAction}
install -m 0755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
for lib in "${LIBS[@]}"; do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
chmod 1777 "$ROOTFS/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$ROOTFS/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$ROOTFS/etc/nsswitch.conf"
if [[ -n "$CA_BUNDLE" ]]; then
  mkdir -p "$ROOTFS/etc/ssl/certs"
  cp -L "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi

# Everything root-owned except the node user's home.
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" --exclude=./home/node -cf "$WORK/rootfs.tar" .
tar --numeric-owner --owner=1000 --group=1000 -C "$ROOTFS" -rf "$WORK/rootfs.tar" ./home/node

docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change "LABEL leon-edge.base.fingerprint=$FINGERPRINT" \
  --change "LABEL leon-edge.base.node-version=$NODE_VERSION" \
  --change 'CMD ["node"]' \
  --message "leon-edge node base: node $NODE_VERSION from $NODE_BIN" \
  "$WORK/rootfs.tar" "$IMAGE" >/dev/null
rm -rf "$WORK"
echo "build-base: built $IMAGE (node $NODE_VERSION, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
