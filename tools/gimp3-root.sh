#!/bin/bash
# gimp3-root.sh: a cached Debian 13 (trixie) root filesystem with GIMP 3 and the build tools, for
# hosts whose own GIMP is older; runs commands inside it with the checkout bound at its own path.
#
# Usage (as root):
#   tools/gimp3-root.sh provision        make sure the cached root exists; print its path
#   tools/gimp3-root.sh run CMD [ARG...] run CMD inside the root, in the checkout, without network
#   tools/gimp3-root.sh clean            remove every cached root
#
# The root lives under $SCALEDIT_CACHE_DIR (default /var/cache/scaledit), in a folder named after a
# hash of its package list, so a changed list builds a new root and the old one is removed.
# A root is used only once its completion stamp exists; an interrupted build is detected by the
# missing stamp and built again.  All mounts are made in a private mount and PID namespace
# (unshare), so they vanish with the command even when it is killed; a trap unmounts them on a
# normal exit too.  Environment: SCALEDIT_DEBIAN_MIRROR overrides the mirror read from
# /etc/apt/sources.list*; SCALEDIT_ROOT_PASSENV names extra variables to pass into the root.
set -euo pipefail

SUITE=trixie
# Packages of the root.  Changing this list (or ROOT_FORMAT) changes the cache key.
PACKAGES=(
  gimp libgimp-3.0-dev libgtk-3-dev
  meson ninja-build gcc g++ pkg-config gettext
  libglib2.0-dev libopenblas-dev libjson-glib-dev libpng-dev
  clang libclang-rt-dev libomp-dev
  xvfb xauth xdotool x11-apps x11-utils imagemagick
  python3 python3-numpy
  ca-certificates
)
ROOT_FORMAT=1
CACHE_DIR=${SCALEDIT_CACHE_DIR:-/var/cache/scaledit}
STAMP=.scaledit-root-complete
SELF=$(readlink -f "${BASH_SOURCE[0]}")
SRC_DIR=$(dirname "$(dirname "$SELF")")

die () { echo "gimp3-root: $*" >&2; exit 1; }
note () { echo "gimp3-root: $*" >&2; }

root_key ()
{
  printf '%s\n' "$ROOT_FORMAT" "$SUITE" "${PACKAGES[@]}" | sha256sum | cut -c1-12
}

# The Debian mirror this host's apt uses (first non-security Debian URI), else deb.debian.org.
debian_mirror ()
{
  if [ -n "${SCALEDIT_DEBIAN_MIRROR:-}" ]; then
    echo "$SCALEDIT_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
          2>/dev/null \
        | grep -v '^[[:space:]]*#' \
        | grep -oE '(https?|ftp)://[^ ]*/debian/?([[:space:]]|$)' \
        | grep -v -- '-security' | head -n1 | tr -d '[:space:]' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Mount points at or below $1 in this mount namespace.
mounts_under ()
{
  local dir=$1
  awk -v d="$dir" '{ p = $2; gsub(/\\040/, " ", p);
                     if (p == d || index(p, d "/") == 1) print p }' /proc/mounts
}

# Remove a root folder, refusing while anything is mounted inside it.
remove_root ()
{
  local dir=$1 m
  [ -e "$dir" ] || return 0
  m=$(mounts_under "$dir")
  if [ -n "$m" ]; then
    note "unmounting leftovers under $dir"
    mounts_under "$dir" | sort -r | while read -r p; do umount -l "$p" || true; done
    [ -z "$(mounts_under "$dir")" ] || die "cannot remove $dir: still mounted: $(mounts_under "$dir")"
  fi
  rm -rf --one-file-system "$dir"
}

need_host_tools ()
{
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it); \
either run as root or install the GIMP 3 development files (gimp-3.0, gimpui-3.0) on the host"
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  for t in unshare chroot mount flock sha256sum; do
    command -v "$t" >/dev/null || missing+=(util-linux)
  done
  [ ${#missing[@]} = 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if command -v apt-get >/dev/null; then
    note "installing on the host: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    die "missing on this host: ${missing[*]} (install debootstrap, the Debian archive keyring \
and util-linux with your package manager)"
  fi
}

# Build the root into "$1" (runs inside a private mount/PID namespace).
build_root_inner ()
{
  local dir=$1 mirror=$2
  note "debootstrap $SUITE from $mirror into $dir"
  debootstrap --variant=minbase --components=main \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$dir" "$mirror" \
    > "$dir.debootstrap.log" 2>&1 \
    || { tail -n 30 "$dir.debootstrap.log" >&2; die "debootstrap failed (log: $dir.debootstrap.log)"; }
  cat > "$dir/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
EOF
  printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$dir/etc/apt/apt.conf.d/90scaledit"
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
  MOUNTED_ROOT=$dir
  trap 'umount_all "$MOUNTED_ROOT"' EXIT
  mount -t proc proc "$dir/proc"
  mount --rbind /sys "$dir/sys" && mount --make-rslave "$dir/sys"
  mount --rbind /dev "$dir/dev" && mount --make-rslave "$dir/dev"
  local env=(/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
             DEBIAN_FRONTEND=noninteractive HOME=/root)
  note "installing ${#PACKAGES[@]} packages and their dependencies"
  local log="$dir.apt.log"
  { chroot "$dir" "${env[@]}" apt-get update -q \
    && chroot "$dir" "${env[@]}" apt-get install -y -q "${PACKAGES[@]}" \
    && chroot "$dir" "${env[@]}" apt-get clean; } > "$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "installing packages failed (log: $log)"; }
  chroot "$dir" "${env[@]}" gimp-console-3.0 --version >&2
  umount_all "$dir"
  trap - EXIT
  printf '%s\n' "${PACKAGES[@]}" > "$dir/$STAMP"
}

umount_all ()
{
  local dir=$1
  mounts_under "$dir" | sort -r | while read -r p; do umount -l "$p" 2>/dev/null || true; done
}

# Set ROOT to a complete root, building it first if needed, and hold a shared lock on it (fd 8)
# so that no other run replaces it meanwhile.
provision ()
{
  need_host_tools
  mkdir -p "$CACHE_DIR"
  local root="$CACHE_DIR/gimp3-root-$(root_key)"
  exec 8>"$CACHE_DIR/gimp3-root.lock"
  if [ ! -f "$root/$STAMP" ]; then
    flock 8
    if [ ! -f "$root/$STAMP" ]; then
      local start=$SECONDS
      # Exclusive lock held: nothing uses any cached root now; clear partial and outdated ones.
      for old in "$CACHE_DIR"/gimp3-root-*; do
        [ -d "$old" ] || continue
        note "removing outdated or unfinished root $old"
        remove_root "$old"
      done
      rm -f "$CACHE_DIR"/gimp3-root-*.log
      local partial="$root.partial"
      mkdir -p "$partial"
      unshare --mount --pid --fork --kill-child --propagation private -- \
        "$SELF" __build "$partial" "$(debian_mirror)" 8>&-
      [ -f "$partial/$STAMP" ] || die "provisioning did not finish; run again to rebuild"
      [ -z "$(mounts_under "$partial")" ] || die "mounts left under $partial"
      mv "$partial" "$root"
      rm -f "$partial".*.log
      note "provisioned $root in $((SECONDS - start)) s ($(du -sh --one-file-system "$root" | cut -f1))"
    fi
    flock -u 8
  fi
  flock -s 8
  ROOT=$root
}

# Inside the namespace: mount what the command needs, chroot, unmount on exit.
enter_inner ()
{
  local root=$1; shift
  MOUNTED_ROOT=$root
  trap 'umount_all "$MOUNTED_ROOT"' EXIT
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  mkdir -p "$root$SRC_DIR"
  mount --bind "$SRC_DIR" "$root$SRC_DIR"
  local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  if [ -d /usr/local/cuda ]; then
    mkdir -p "$root/usr/local/cuda"
    mount --bind "$(readlink -f /usr/local/cuda)" "$root/usr/local/cuda"
    mount -o remount,bind,ro "$root/usr/local/cuda"
    path=$path:/usr/local/cuda/bin
  fi
  local env=(PATH="$path" HOME=/tmp/home LANG=C.UTF-8 TERM="${TERM:-dumb}")
  # The host finds cuBLAS through ld.so.conf; the root is told here.
  [ -d /usr/local/cuda ] && env+=(LD_LIBRARY_PATH=/usr/local/cuda/lib64)
  local v
  for v in SCALEDIT_BUILD_DIR SCALEDIT_SETUP_ARGS SCALEDIT_MAIN_SIZE SCALEDIT_MAIN_OUT SCALEDIT_MODEL \
           MESON_TESTTHREADS CI ${SCALEDIT_ROOT_PASSENV:-}; do
    [ -n "${!v+x}" ] && env+=("$v=${!v}")
  done
  mkdir -p "$root/tmp/home"
  # Not exec: the trap must run after the command.
  local rc=0
  chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c 'cd "$1" && shift && exec "$@"' \
    bash "$SRC_DIR" "$@" || rc=$?
  return $rc
}

case "${1:-}" in
  provision)
    provision
    echo "$ROOT"
    ;;
  run)
    shift
    [ $# -gt 0 ] || die "run: no command given"
    provision
    rc=0
    unshare --mount --pid --fork --kill-child --propagation private -- "$SELF" __enter "$ROOT" "$@" 8>&- \
      || rc=$?
    leftover=$(mounts_under "$ROOT")
    [ -z "$leftover" ] || note "warning: mounts left in the host namespace: $leftover"
    exit $rc
    ;;
  clean)
    need_host_tools
    mkdir -p "$CACHE_DIR"
    exec 8>"$CACHE_DIR/gimp3-root.lock"
    flock 8
    for old in "$CACHE_DIR"/gimp3-root-*; do
      [ -e "$old" ] && remove_root "$old"
    done
    ;;
  __build)
    build_root_inner "$2" "$3"
    ;;
  __enter)
    shift
    enter_inner "$@"
    ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF" >&2
    exit 2
    ;;
esac
