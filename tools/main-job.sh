#!/bin/bash
# main-job.sh: the main job: builds scaledit on this host, generates a picture with the bundled
# default model (2048² unless SCALEDIT_MAIN_SIZE says otherwise; on the GPU when there is one, else
# the CPU) into scaledit-main.png, and installs the GIMP 3 plug-in when the host has GIMP 3.
#
# Usage: tools/main-job.sh [scaledit generate options, e.g. --model PATH --prompt TEXT]
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

size=${SCALEDIT_MAIN_SIZE:-2048}
out=${SCALEDIT_MAIN_OUT:-scaledit-main.png}
build=${SCALEDIT_BUILD_DIR:-build-main}

if command -v pkg-config >/dev/null && pkg-config --exists gimp-3.0 gimpui-3.0 2>/dev/null; then
  tools/host-deps.sh --gimp
else
  tools/host-deps.sh
fi
tools/setup-build.sh "$build"   # gimp and cuda: auto
ninja -C "$build"

if [ -x "$build/plugin/scaledit/scaledit" ]; then
  dest=${GIMP3_DIRECTORY:-$HOME/.config/GIMP/3.0}/plug-ins/scaledit
  mkdir -p "$dest"
  install -m 755 "$build/plugin/scaledit/scaledit" "$dest/scaledit"
  # an installed plug-in loads the CUDA module from its own folder (or the installed libdir),
  # never from the build folder
  if [ -f "$build/cuda/libscaledit-cuda.so" ]; then
    install -m 755 "$build/cuda/libscaledit-cuda.so" "$dest/libscaledit-cuda.so"
  else
    rm -f "$dest/libscaledit-cuda.so"
  fi
  # its catalogs (locale/<lang>/LC_MESSAGES/scaledit.mo) and the bundled model beside it, where
  # the plug-in looks first
  for mo in "$build"/po/*/LC_MESSAGES/scaledit.mo; do
    [ -f "$mo" ] || continue
    lang=$(basename "$(dirname "$(dirname "$mo")")")
    install -D -m 644 "$mo" "$dest/locale/$lang/LC_MESSAGES/scaledit.mo"
  done
  if [ -d models/scaledit-tiny ]; then
    rm -rf "$dest/models/scaledit-tiny"
    mkdir -p "$dest/models"
    cp -r models/scaledit-tiny "$dest/models/scaledit-tiny"
  fi
  echo "main-job: installed the GIMP plug-in, its catalogs and the bundled model into $dest"
else
  echo "main-job: no GIMP 3 development files here: the plug-in was not built"
fi

"$build/cli/scaledit" generate --prompt "a snowy mountain lake with pine trees at sunset with the setting sun and a few clouds" \
  --width "$size" --height "$size" --seed 1 --out "$out" --verbose "$@"
