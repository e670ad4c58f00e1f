#!/bin/bash
# host-deps.sh: checks what a native build and test run needs on this host; installs what is missing
# with apt when run as root on Debian/Ubuntu, else says what to install and fails.
#
# Usage: tools/host-deps.sh [--tests] [--gimp]
#   (none)     what building scaledit and running the main job need
#   --tests    also what the test suites need (numpy for the scene judges; Xvfb, clang and libomp
#              for the fuzz targets optional)
#   --gimp     also the GIMP 3 development files and gimp-console
#   --python   print the Python interpreter the tests use (one with numpy), or fail
set -euo pipefail

with_tests=no with_gimp=no print_python=no
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=yes ;;
    --gimp) with_gimp=yes ;;
    --python) print_python=yes ;;
    *) echo "host-deps: unknown option '$arg' (see the usage at the top of $0)" >&2; exit 2 ;;
  esac
done

have_cmd () { command -v "$1" >/dev/null 2>&1; }
have_pc () { have_cmd pkg-config && pkg-config --exists "$@" 2>/dev/null; }
have_openblas ()
{
  have_pc openblas && return 0
  # Debian's libopenblas-dev has no openblas.pc on older releases; meson then finds the library.
  ls /usr/lib/*/libopenblas.so /usr/lib/libopenblas.so /usr/lib64/libopenblas.so >/dev/null 2>&1
}
# The tests' Python: python3 on PATH when it has numpy (a virtualenv, pyenv, conda), else the
# system's, which is where apt's python3-numpy goes. tests/meson.build looks in the same order.
test_python ()
{
  local py
  for py in "$(command -v python3 2>/dev/null)" /usr/bin/python3; do
    [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import numpy' >/dev/null 2>&1 && { echo "$py"; return 0; }
  done
  return 1
}
have_numpy () { test_python >/dev/null; }
# clang's OpenMP header, which the fuzz targets' build of the CPU backend needs
have_clang_omp () { have_cmd clang && clang -fopenmp -E -x c /dev/null -include omp.h >/dev/null 2>&1; }

if [ $print_python = yes ]; then
  test_python || { echo "host-deps: no Python 3 with numpy (install python3-numpy)" >&2; exit 1; }
  exit 0
fi

# check | Debian/Ubuntu | Fedora | Arch | required (yes) or only for some tests (no)
# What the build and the main job need:
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
)
if [ $with_tests = yes ]; then
  REQUIREMENTS+=(
    "have_numpy|python3-numpy|python3-numpy|python-numpy|yes"
    "have_cmd xvfb-run|xvfb|xorg-x11-server-Xvfb|xorg-server-xvfb|no"
    "have_cmd xauth|xauth|xorg-x11-xauth|xorg-xauth|no"
    "have_cmd clang|clang|clang|clang|no"
    "have_clang_omp|libomp-dev|libomp-devel|openmp|no"
  )
fi
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
  # Another apt (unattended upgrades, a second job) may hold the lock: wait for it, bounded.
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${debian[@]}"
  mapfile -t missing < <(missing_rows)
  [ ${#missing[@]} = 0 ] && exit 0
  still=()
  for row in "${missing[@]}"; do
    IFS='|' read -r _ d _ _ _ <<< "$row"
    still+=("$d")
  done
  echo "host-deps: still missing after apt installed them: ${still[*]}" >&2
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
