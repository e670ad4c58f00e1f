#!/bin/bash
# dialog-screenshots.sh: shows the plug-in's dialogs in a real GIMP 3 under Xvfb and saves
# screenshots of them (generate with a composition preview, upscale) as small PNGs.
#
# Usage (inside the Debian 13 root, whose packages include xvfb, xdotool and imagemagick):
#   tools/gimp3-root.sh run tools/dialog-screenshots.sh BUILD_DIR OUT_DIR
# BUILD_DIR is a build with the plug-in (its plugin/ folder joins GIMP's plug-in-path); the
# dialogs use the small test model (tests/data/pipeline-model), whose pictures are noise.
set -euo pipefail

BUILD=$(readlink -f "${1:?usage: $0 BUILD_DIR OUT_DIR}")
OUT=$(readlink -f "${2:?usage: $0 BUILD_DIR OUT_DIR}")
SRC=$(dirname "$(dirname "$(readlink -f "$0")")")
MODEL=$SRC/tests/data/pipeline-model
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$OUT" "$WORK/gimp3" "$WORK/config" "$WORK/cache"

export DISPLAY=:77
Xvfb "$DISPLAY" -screen 0 1600x1100x24 -nolisten tcp > "$WORK/xvfb.log" 2>&1 &
for _ in $(seq 50); do xdpyinfo > /dev/null 2>&1 && break; sleep 0.1; done

printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' "$BUILD/plugin" \
  > "$WORK/gimp3/gimprc"
# Each call blocks in its dialog; closing one opens the next.
script="(let* ((img (car (gimp-image-new 1024 768 RGB)))
               (bg (car (gimp-layer-new img \"Background\" 1024 768 RGB-IMAGE 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img bg 0 0)
  (gimp-display-new img)
  (plug-in-scaledit-generate #:run-mode RUN-INTERACTIVE #:image img #:drawables (vector bg)
    #:prompt \"a lighthouse on a cliff at dusk, storm clouds over the sea\" #:model \"$MODEL\"
    #:seed 1234 #:global-steps 8 #:detail-steps 4 #:device \"cpu\")
  (plug-in-scaledit-upscale #:run-mode RUN-INTERACTIVE #:image img #:drawables (vector bg)
    #:prompt \"a lighthouse on a cliff at dusk, storm clouds over the sea\" #:model \"$MODEL\"
    #:scale 4 #:seed 1234 #:global-steps 8 #:detail-steps 4 #:device \"cpu\"))"
GIMP3_DIRECTORY=$WORK/gimp3 XDG_CONFIG_HOME=$WORK/config XDG_CACHE_HOME=$WORK/cache \
  GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 OMP_NUM_THREADS=1 \
  gimp-3.0 --no-splash --batch-interpreter=plug-in-script-fu-eval -b "$script" \
  > "$WORK/gimp.log" 2>&1 &

# Saves window $1 as $2 (a palette of 256 colours keeps it small).
shot ()
{
  import -window "$1" "$WORK/shot.png"
  convert "$WORK/shot.png" -colors 256 "PNG8:$2"
  echo "$2: $(identify -format '%wx%h' "$2"), $(stat -c %s "$2") bytes"
}

# Brings the dialog named $1 up and gives it the keyboard.
dialog ()
{
  local w
  w=$(timeout 120 xdotool search --sync --onlyvisible --name "^$1\$" | head -n1)
  xdotool windowraise "$w"
  xdotool windowfocus --sync "$w"
  sleep 1
  echo "$w"
}

d=$(dialog "Scale-DiT Generate")
xdotool key alt+p          # Preview composition
sleep 8                    # the global pass of the test model takes about 2 s on one core
shot "$d" "$OUT/dialog-generate.png"
xdotool key Escape         # cancel: the image stays as it was

d=$(dialog "Scale-DiT Upscale")
shot "$d" "$OUT/dialog-upscale.png"
xdotool key Escape
sleep 1
grep -i -E "warning|critical|error|mnemonic" "$WORK/gimp.log" || true
