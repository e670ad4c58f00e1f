#!/bin/bash
# run-tests.sh: the test command: builds scaledit and runs every test suite; natively where GIMP 3's
# development files are (or apt can install them), else inside a cached Debian 13 root.
#
# Usage: tools/run-tests.sh [--native | --gimp3-root] [meson test arguments, e.g. --suite unit]
#   --native      build and test on this host (without GIMP 3 the gimp suite is left out)
#   --gimp3-root  build and test inside the Debian 13 root (tools/gimp3-root.sh; needs root)
# Environment: SCALEDIT_BUILD_DIR (default build-tests natively, build-gimp3 in the root),
# SCALEDIT_SETUP_ARGS (extra meson setup arguments, e.g. -Db_sanitize=address,undefined).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

mode=auto
case "${1:-}" in
  --native) mode=native; shift ;;
  --gimp3-root) mode=root; shift ;;
esac

gimp_dev=no
if command -v pkg-config >/dev/null && pkg-config --exists gimp-3.0 gimpui-3.0 2>/dev/null; then
  gimp_dev=yes
elif [ "$(id -u)" = 0 ] && command -v apt-cache >/dev/null \
     && apt-cache policy libgimp-3.0-dev 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  gimp_dev=apt   # Debian 13, Ubuntu 25.04 and later: host-deps.sh installs it
fi
if [ $mode = auto ]; then
  [ $gimp_dev = no ] && mode=root || mode=native
fi

if [ $mode = root ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "run-tests: this host has no GIMP 3 development files (gimp-3.0, gimpui-3.0), and making" \
         "the Debian 13 root that provides them needs root. Run as root, install GIMP 3's" \
         "development files, or run 'tools/run-tests.sh --native' to test without the gimp suite." >&2
    exit 1
  fi
  echo "run-tests: no GIMP 3 development files on this host; building and testing inside the" \
       "Debian 13 root (tools/gimp3-root.sh)" >&2
  export SCALEDIT_BUILD_DIR=${SCALEDIT_BUILD_DIR:-build-gimp3}
  exec tools/gimp3-root.sh run tools/run-tests.sh --native "$@"
fi

if [ $gimp_dev = no ]; then
  tools/host-deps.sh --tests
else
  tools/host-deps.sh --tests --gimp
fi

build=${SCALEDIT_BUILD_DIR:-build-tests}
# shellcheck disable=SC2086  # SCALEDIT_SETUP_ARGS is a list of arguments
tools/setup-build.sh "$build" ${SCALEDIT_SETUP_ARGS:-}
ninja -C "$build"
status=0
meson test -C "$build" --print-errorlogs "$@" || status=$?
# Meson counts skips but does not say why: the reasons, from the TAP lines of the log
if grep -q '# SKIP' "$build/meson-logs/testlog.txt" 2>/dev/null; then
  echo "run-tests: skipped, with the reasons:"
  grep -h '^ok .*# SKIP' "$build/meson-logs/testlog.txt" | sed 's/^ok [0-9]* /  /' | sort | uniq -c
fi
exit $status
