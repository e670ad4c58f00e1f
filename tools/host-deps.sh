#!/bin/bash
# host-deps.sh: checks what a native build and test run needs on this host; installs what is missing
# with apt when run as root on Debian/Ubuntu, else says what to install and fails.
#
# Usage: tools/host-deps.sh [--gimp]    (--gimp: the GIMP 3 development files and gimp-console too)
set -euo pipefail

with_gimp=no
[ "${1:-}" = --gimp ] && with_gimp=yes

have_cmd () { command -v "$1" >/dev/null 2>&1; }
have_pc () { have_cmd pkg-config && pkg-config --exists "$@" 2>/dev/null; }
have_openblas ()
{
  have_pc openblas && return 0
  # Debian's libopenblas-dev has no openblas.pc on older releases; meson then finds the library.
  ls /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so /usr/lib64/libopenblas.so >/dev/null 2>&1
}
have_numpy () { have_cmd python3 && python3 -c 'import numpy' >/dev/null 2>&1; }

# check | Debian/Ubuntu | Fedora | Arch | required (yes) or only for some tests (no)
REQUIREMENTS=(
  "have_cmd meson|meson|meson|meson|yes"
  "have_cmd ninja|ninja-build|ninja-build|ninja|yes"
  "have_cmd pkg-config|pkg-config|pkgconf-pkg-config|pkgconf|yes"
  "have_cmd gcc|gcc|gcc|gcc|yes"
  "have_pc glib-2.0 gio-2.0 gmodule-2.0|libglib2.0-dev|glib2-devel|glib2|yes"
  "have_pc json-glib-1.0|libjson-glib-dev|json-glib-devel|json-glib|yes"
  "have_openblas|libopenblas-dev|openblas-devel|openblas|yes"
  "have_pc libpng|libpng-dev|libpng-devel|libpng|yes"
  "have_cmd msgfmt|gettext|gettext|gettext|yes"
  "have_cmd python3|python3|python3|python|yes"
  "have_numpy|python3-numpy|python3-numpy|python-numpy|yes"
  "have_cmd xvfb-run|xvfb|xorg-x11-server-Xvfb|xorg-server-xvfb|no"
  "have_cmd xauth|xauth|xorg-x11-xauth|xorg-xauth|no"
  "have_cmd clang|clang|clang|clang|no"
)
if [ $with_gimp = yes ]; then
  REQUIREMENTS+=(
    "have_pc gimp-3.0 gimpui-3.0|libgimp-3.0-dev|gimp-devel|gimp|yes"
    "have_pc gtk+-3.0|libgtk-3-dev|gtk3-devel|gtk3|yes"
    "have_cmd gimp-console-3.0|gimp|gimp|gimp|yes"
  )
fi

# The fields of missing requirements.
missing_rows ()
{
  local row check
  for row in "${REQUIREMENTS[@]}"; do
    check=${row%%|*}
    $check || echo "$row"
  done
}

mapfile -t missing < <(missing_rows)
[ ${#missing[@]} = 0 ] && exit 0

debian=() fedora=() arch=() required=no
for row in "${missing[@]}"; do
  IFS='|' read -r _ d f a r <<< "$row"
  [[ " ${debian[*]} " == *" $d "* ]] || debian+=("$d")
  [[ " ${fedora[*]} " == *" $f "* ]] || fedora+=("$f")
  [[ " ${arch[*]} " == *" $a "* ]] || arch+=("$a")
  [ "$r" = yes ] && required=yes
done

if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
  echo "host-deps: installing with apt: ${debian[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${debian[@]}"
  mapfile -t missing < <(missing_rows)
  [ ${#missing[@]} = 0 ] && exit 0
  echo "host-deps: still missing after apt: ${missing[*]%%|*}" >&2
  exit 1
fi

{
  echo "host-deps: this build needs packages that are not installed:"
  echo "  Debian/Ubuntu: apt install ${debian[*]}"
  echo "  Fedora:        dnf install ${fedora[*]}"
  echo "  Arch:          pacman -S ${arch[*]}"
  echo "  (elsewhere: the same libraries and tools under your system's names)"
} >&2
if [ $required = yes ]; then
  exit 1
fi
echo "host-deps: continuing: only optional tests (fuzzing, dialog screenshots) need these" >&2
