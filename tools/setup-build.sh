#!/bin/bash
# setup-build.sh: sets up a Meson build folder, or brings an existing one up to date; a folder
# made by another Meson version (say natively, then inside the Debian 13 root) is started afresh.
#
# Usage: tools/setup-build.sh BUILD_DIR [meson setup arguments]
set -euo pipefail
build=$1
shift
if [ ! -f "$build/meson-private/coredata.dat" ]; then
  meson setup "$build" "$@"
  exit
fi
made_by=$(grep -o '"full": *"[^"]*"' "$build/meson-info/meson-info.json" 2>/dev/null | head -n1 \
          | sed 's/.*"\([^"]*\)"$/\1/' || true)
if [ "$made_by" != "$(meson --version)" ]; then
  echo "setup-build: $build was made by Meson ${made_by:-of another version}; setting it up afresh" >&2
  meson setup --wipe "$build" "$@"
elif [ $# -gt 0 ]; then
  meson setup --reconfigure "$build" "$@"
fi
# else ninja re-runs Meson itself when a build file changed
