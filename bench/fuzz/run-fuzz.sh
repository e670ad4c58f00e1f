#!/bin/bash
# run-fuzz.sh: the long fuzz runs of issue 19: every libFuzzer target of tests/ for SECONDS_EACH seconds with
# WORKERS processes each (libFuzzer's -fork), all targets at once, seeded as the unit suite seeds
# them and continuing the corpus in CORPUS; prints a table (executions, findings) and writes it
# to $OUT/fuzz_table.md with the artifacts of any finding.
#
# Usage: FUZZ=<folder holding the fuzz_* binaries> [SECONDS_EACH=570] [WORKERS="name=n ..."] \
#        [CORPUS=<folder>] [TARGETS="fuzz_a fuzz_b"] bench/fuzz/run-fuzz.sh
# TARGETS runs only those (default: all).
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

fuzz=${FUZZ:?FUZZ must name the folder holding the fuzz_* binaries}
seconds=${SECONDS_EACH:-570}
corpus=${CORPUS:-/tmp/scaledit-fuzz-corpus}
out=${OUT:-/tmp/scaledit-fuzz-out}
data=tests/data
mkdir -p "$corpus" "$out"

declare -A seeds=(
  [fuzz_safetensors]="$data/safetensors"
  [fuzz_configs]="$data/fuzz-seeds/configs"
  [fuzz_tokenizer_clip]="$data/fuzz-seeds/tokenizer_clip"
  [fuzz_tokenizer_t5]="$data/fuzz-seeds/tokenizer_t5"
  [fuzz_lora]="$data/fuzz-seeds/lora"
  [fuzz_png_read]="$data/fuzz-seeds/png"
)
declare -A max_len=(
  [fuzz_safetensors]=8192 [fuzz_configs]=4096 [fuzz_tokenizer_clip]=40000
  [fuzz_tokenizer_t5]=24576 [fuzz_lora]=16384 [fuzz_png_read]=16384
)
if [ -n "${TARGETS:-}" ]; then
  for t in "${!seeds[@]}"; do
    [[ " $TARGETS " == *" $t "* ]] || unset "seeds[$t]"
  done
fi
declare -A workers=()
for t in "${!seeds[@]}"; do workers[$t]=2; done
for kv in ${WORKERS:-}; do workers[${kv%%=*}]=${kv#*=}; done

export G_SLICE=always-malloc G_DEBUG=fatal-criticals OMP_NUM_THREADS=1 SCALEDIT_TEST_DATA=$PWD/$data
for t in "${!seeds[@]}"; do
  mkdir -p "$corpus/$t" "$out/$t-artifacts"
  "$fuzz/$t" -fork="${workers[$t]}" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$out/$t-artifacts/" "$corpus/$t" "${seeds[$t]}" \
    > "$out/$t.log" 2>&1 &
done
wait

{
  echo "| target | seconds | workers | executions | corpus | findings |"
  echo "|---|---|---|---|---|---|"
  for t in $(printf '%s\n' "${!seeds[@]}" | sort); do
    # fork mode's status lines: "#<execs>: cov: ... corp: <n> ... oom/timeout/crash: a/b/c time: <s>s ..."
    last=$(grep -E '^#[0-9]+: ' "$out/$t.log" | tail -1)
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
    findings=$(find "$out/$t-artifacts" -type f | wc -l)
    echo "| $t | $seconds | ${workers[$t]} | ${execs:-?} | ${corp:-?} | $findings |"
  done
} | tee "$out/fuzz_table.md"
