#!/usr/bin/env bash
# Builds a base image for any Debian architecture WITHOUT a container registry and without running
# anything of the target architecture: mmdebstrap downloads the Debian packages (and their
# dependencies) of the target architecture and only unpacks them (variant "extract"); a few files are
# then written by hand (/etc/passwd with the unprivileged user, /tmp 1777, the BLAS/LAPACK links the
# packages' maintainer scripts would make), documentation is dropped, optional host files are added,
# and the tree is loaded with `docker load` as a one-layer image whose config names the TARGET
# platform (docker import would label it with the engine's). The architecture label thus matches the
# binaries, and `docker build` FROM it keeps that label (COPY-only Dockerfiles run nothing).
#
#   bash runtimes/base/debian-image.sh --platform linux/arm64 --image leon-edge/python-base:3.11-arm64 \
#        --packages python3 [--user action] [--add /host/file:/path/in/image]... [--env K=V]... [--cmd '["python3"]']
#        [--drop 'usr/lib/*/dri']...   (paths of the tree to leave out, shell globs relative to /)
#        [--security]   (packages from <suite>-security and <suite>-updates too: Debian's fixes between point releases)
#
# Environment: DEBIAN_SUITE (default bookworm), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
# FORCE=1 (rebuild even when an image with the same inputs exists; label leon-edge.base.fingerprint; the
# fingerprint does not know the archive's versions: FORCE=1 is how a base picks up Debian's newer packages).
# The label leon-edge.base.debian-versions lists the versions of the --packages that went in.
# From trixie on, Debian's packages ship their files under /usr only and count on /bin, /sbin and /lib being
# symlinks into /usr (merged /usr), which nothing unpacks: mmdebstrap's maybe-merged-usr hook makes them first.
# Suites up to bookworm still ship /lib themselves and are unpacked as before.
# Needs mmdebstrap (apt-get install mmdebstrap; installed here when missing and running as root).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=platform.sh
source "$HERE/platform.sh"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
MERGED_USR_HOOK=/usr/share/mmdebstrap/hooks/maybe-merged-usr

die() { echo "debian-image: $*" >&2; exit 1; }

PLATFORM_ARG="" IMAGE="" PACKAGES="" USER_NAME="action" CMD='["/bin/sh"]' SECURITY=0
ADDS=() ENVS=() DROPS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --platform) PLATFORM_ARG="$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --packages) PACKAGES="$2"; shift 2 ;;
    --user) USER_NAME="$2"; shift 2 ;;
    --add) ADDS+=("$2"); shift 2 ;;
    --env) ENVS+=("$2"); shift 2 ;;
    --cmd) CMD="$2"; shift 2 ;;
    --drop) DROPS+=("$2"); shift 2 ;;
    --security) SECURITY=1; shift ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ -n "$PLATFORM_ARG" && -n "$IMAGE" && -n "$PACKAGES" ]] || die "--platform, --image and --packages are required"
platform_vars "$PLATFORM_ARG" || exit 1

command -v docker >/dev/null || die "the docker CLI is not installed"
if ! command -v mmdebstrap >/dev/null; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "debian-image: installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; } ||
      die "apt-get install mmdebstrap failed"
  else
    die "mmdebstrap is needed (Debian/Ubuntu: sudo apt-get install mmdebstrap)"
  fi
fi

add_sums=""
for a in "${ADDS[@]}"; do add_sums+="$(sha256sum "${a%%:*}" | cut -c1-64) ${a#*:};"; done
FINGERPRINT="$( { sha256sum "${BASH_SOURCE[0]}" "$HERE/platform.sh" | cut -c1-64
  printf '%s\n' "$PLATFORM" "$SUITE" "$SECURITY" "$PACKAGES" "$USER_NAME" "$CMD" "$add_sums" "${ENVS[@]}" "${DROPS[@]}"; [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -V; } | sha256sum | cut -c1-16)"
if [[ "${FORCE:-0}" != 1 ]] &&
   [[ "$(docker image inspect -f '{{index .Config.Labels "leon-edge.base.fingerprint"}}' "$IMAGE" 2>/dev/null)" == "$FINGERPRINT" ]]; then
  echo "debian-image: $IMAGE is up to date ($PLATFORM, fingerprint $FINGERPRINT)"
  exit 0
fi

SOURCES=("deb $MIRROR $SUITE main")
[[ $SECURITY == 1 ]] && SOURCES+=("deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main")
HOOKS=()
case "$SUITE" in
  buster|bullseye|bookworm) ;;
  *) [[ -d "$MERGED_USR_HOOK" ]] ||
       die "Debian $SUITE needs mmdebstrap's merged-/usr hook $MERGED_USR_HOOK (mmdebstrap 1.x; this one: $(mmdebstrap --version 2>&1 | head -1))"
     HOOKS=(--hook-dir="$MERGED_USR_HOOK") ;;
esac

WORK="$(mktemp -d "${TMPDIR:-/tmp}/debian-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
echo "debian-image: mmdebstrap $SUITE$([[ $SECURITY == 1 ]] && echo " (+updates, +security)") $DEB_ARCH: $PACKAGES"
if ! mmdebstrap --quiet --mode=root --variant=extract --arch="$DEB_ARCH" --include="$PACKAGES" \
     --aptopt='APT::Install-Recommends "false"' --skip=cleanup/apt/cache "${HOOKS[@]}" \
     "$SUITE" "$ROOTFS" "${SOURCES[@]}" >"$WORK/mmdebstrap.log" 2>&1; then
  cat "$WORK/mmdebstrap.log" >&2
  die "mmdebstrap failed"
fi

# The versions of the named packages, from the .debs apt fetched ("name=version ...").
VERSIONS="$(for p in ${PACKAGES//,/ }; do
  for deb in "$ROOTFS"/var/cache/apt/archives/"${p}"_*.deb; do
    [[ -e "$deb" ]] || continue
    v="$(basename "$deb" .deb)"; v="${v#"${p}"_}"; v="${v%_*}"; printf '%s=%s ' "$p" "${v//%3a/:}"
  done
done)"
VERSIONS="${VERSIONS% }"

# What the skipped maintainer scripts would have done, as far as these images need it.
rm -rf "$ROOTFS"/usr/share/{doc,man,info,locale,lintian,bug} "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/*
for d in "${DROPS[@]}"; do
  # shellcheck disable=SC2086  # the glob is meant to expand
  (cd "$ROOTFS" && rm -rf -- $d)
done
# Debian byte-compiles Python modules in the maintainer scripts skipped here. Without .pyc files every
# start compiles what it imports (seconds under emulation): compile them now with the host's Python of the
# same X.Y (the .pyc format depends on the version only, not on the architecture).
pyver="$(find "$ROOTFS/usr/lib" -maxdepth 1 -name 'python3.*' -printf '%f\n' | sort -V | tail -1)"
if [[ -n "$pyver" ]]; then
  compiled=0
  for py in "/usr/bin/$pyver" "$(command -v "$pyver" || true)" "$(command -v python3 || true)"; do
    [[ -n "$py" && -x "$py" ]] || continue
    [[ "$("$py" -c 'import sys; print("python%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$pyver" ]] || continue
    dirs=("$ROOTFS/usr/lib/$pyver")
    [[ -d "$ROOTFS/usr/lib/python3/dist-packages" ]] && dirs+=("$ROOTFS/usr/lib/python3/dist-packages")
    "$py" -m compileall -q -j 0 -s "$ROOTFS" -p / -x '/(test|tests|idlelib|lib2to3|tkinter)/' "${dirs[@]}" >/dev/null 2>&1 || true
    compiled=1
    break
  done
  [[ $compiled == 1 ]] ||
    echo "debian-image: warning: no $pyver on this host to byte-compile the image's Python modules with; its Python starts slower" >&2
fi
for alt in blas lapack; do
  for lib in "$ROOTFS/usr/lib/$TRIPLET/$alt"/lib*.so.3; do
    [[ -e "$lib" ]] || continue
    [[ -e "$ROOTFS/usr/lib/$TRIPLET/$(basename "$lib")" ]] || ln -s "$alt/$(basename "$lib")" "$ROOTFS/usr/lib/$TRIPLET/$(basename "$lib")"
  done
done
mkdir -p "$ROOTFS"/{tmp,etc,home/"$USER_NAME"}
chmod 1777 "$ROOTFS/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:1000:1000:%s:/home/%s:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' \
  "$USER_NAME" "$USER_NAME" "$USER_NAME" > "$ROOTFS/etc/passwd"
printf 'root:x:0:\n%s:x:1000:\nnogroup:x:65534:\n' "$USER_NAME" > "$ROOTFS/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$ROOTFS/etc/nsswitch.conf"
for a in "${ADDS[@]}"; do
  src="${a%%:*}" dst="${a#*:}"
  mkdir -p "$ROOTFS$(dirname "$dst")"
  install -m "$(stat -c %a "$src")" "$src" "$ROOTFS$dst"
done

# The image: one layer (the tree, root-owned except the user's home) and a config for $PLATFORM.
IMG="$WORK/image"
mkdir -p "$IMG"
tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" --exclude=./home/"$USER_NAME" -cf "$IMG/layer.tar" .
tar --numeric-owner --owner=1000 --group=1000 -C "$ROOTFS" -rf "$IMG/layer.tar" ./home/"$USER_NAME"
rm -rf "$ROOTFS"
DIFF_ID="sha256:$(sha256sum "$IMG/layer.tar" | cut -c1-64)"
ENV_JSON="$(printf '%s\n' 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "${ENVS[@]}" |
  node -e 'console.log(JSON.stringify(require("fs").readFileSync(0,"utf8").split("\n").filter(Boolean)))')"
IMG="$IMG" node -e '
  const [arch, variant, env, cmd, fp, suite, pkgs, versions, diffId, image] = process.argv.slice(1);
  const fs = require("fs");
  const config = {
    architecture: arch, ...(variant ? { variant } : {}), os: "linux", created: new Date().toISOString(),
    config: { Env: JSON.parse(env), Cmd: JSON.parse(cmd),
      Labels: { "leon-edge.base.fingerprint": fp, "leon-edge.base.debian": `${suite}: ${pkgs}`,
        "leon-edge.base.debian-versions": versions } },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created: new Date().toISOString(), created_by: `runtimes/base/debian-image.sh (${suite}: ${pkgs})` }],
  };
  fs.writeFileSync(process.env.IMG + "/config.json", JSON.stringify(config));
  fs.writeFileSync(process.env.IMG + "/manifest.json", JSON.stringify([{ Config: "config.json", RepoTags: [image], Layers: ["layer.tar"] }]));
' "$DOCKER_ARCH" "$DOCKER_VARIANT" "$ENV_JSON" "$CMD" "$FINGERPRINT" "$SUITE" "$PACKAGES" "$VERSIONS" "$DIFF_ID" "$IMAGE"
tar -C "$IMG" -cf - manifest.json config.json layer.tar | docker load >/dev/null
echo "debian-image: built $IMAGE ($PLATFORM, ${VERSIONS:-$PACKAGES}, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
