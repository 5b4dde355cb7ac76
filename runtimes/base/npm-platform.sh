# Sourced by the image build scripts whose node_modules hold sharp (libvips, prebuilt per platform on the npm
# registry: @img/sharp-linux-x64, -arm64, -arm and their @img/sharp-libvips-linux-* libraries, glibc >= 2.36).
# Needs platform_vars (platform.sh) to have run, and say/die.
#
#   platform_node_modules <dir> <lock_sum>   prints the node_modules folder for $PLATFORM: <dir>/node_modules
#       (npm ci on the host, done by the caller) for the engine's platform; for another one, the same lock file
#       installed with npm ci --os=linux --cpu=<arch> --libc=glibc in <dir>/.platform/<arch>/ (npm then picks
#       sharp's packages for that CPU), only when the lock file changed. Checks that sharp's packages are there.
#   add_missing_host_libs <base image> <ctx>   for the engine's platform: copies into <ctx>/libs/ the host's
#       copies of the shared libraries sharp's binary links (libresolv, …) that <base image> lacks: a base made
#       from the host's node (build-base.sh) has only what node links, and its libc is the host's. Bases made
#       from Debian's packages (other platforms) have the whole libc6. <ctx>/libs/ is made in any case, with a
#       list of what was added (usr/share/leon-edge/host-libs.txt): Docker 20.10's classic builder fails the
#       step after a COPY whose layer is empty ("failed to get layer …: layer does not exist").

npm_cpu() { case "$DOCKER_ARCH" in amd64) echo x64 ;; *) echo "$DOCKER_ARCH" ;; esac; }

platform_node_modules() {
  local dir="$1" lock_sum="$2" cpu modules
  cpu="$(npm_cpu)"
  modules="$dir/node_modules"
  if [[ "$PLATFORM" != "$ENGINE_PLATFORM" ]]; then
    local pdir="$dir/.platform/$TAG_SUFFIX"
    if [ ! -f "$pdir/node_modules/.leon-lock.sha256" ] || [ "$(cat "$pdir/node_modules/.leon-lock.sha256")" != "$lock_sum" ]; then
      say "npm ci for $PLATFORM in $pdir" >&2
      rm -rf "$pdir" && mkdir -p "$pdir"
      cp "$dir/package.json" "$dir/package-lock.json" "$pdir/"
      (cd "$pdir" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error --os=linux --cpu="$cpu" --libc=glibc) >&2
      printf '%s\n' "$lock_sum" > "$pdir/node_modules/.leon-lock.sha256"
    fi
    modules="$pdir/node_modules"
  fi
  [ -d "$modules/@img/sharp-linux-$cpu" ] && [ -d "$modules/@img/sharp-libvips-linux-$cpu" ] \
    || die "sharp's prebuilt packages for $PLATFORM (@img/sharp-linux-$cpu, @img/sharp-libvips-linux-$cpu) are missing from $modules: remove that folder and run this script again"
  printf '%s\n' "$modules"
}

add_missing_host_libs() {
  local base="$1" ctx="$2" cid lib list
  list="$ctx/libs/usr/share/leon-edge/host-libs.txt"
  mkdir -p "$(dirname "$list")"
  echo "# shared libraries copied from the build host because the base image lacks them (sharp links them)" > "$list"
  [[ "$PLATFORM" == "$ENGINE_PLATFORM" ]] && command -v ldd >/dev/null 2>&1 || return 0
  cid="$("${DOCKER:-docker}" create "$base" node)"
  for lib in $(ldd "$ctx"/node_modules/@img/sharp-linux-"$(npm_cpu)"/lib/*.node 2>/dev/null \
               | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | grep -v node_modules | sort -u); do
    if ! "${DOCKER:-docker}" cp "$cid:$lib" - >/dev/null 2>&1; then
      mkdir -p "$ctx/libs$(dirname "$lib")"
      cp -L "$lib" "$ctx/libs$lib"
      echo "$lib" >> "$list"
      say "adding the host's $lib (sharp needs it, $base lacks it)"
    fi
  done
  "${DOCKER:-docker}" rm "$cid" >/dev/null
}
