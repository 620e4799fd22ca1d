#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (--config=fuzz: clang-14, ASan + UBSan) and runs each
# for a fixed time from its seeds (fuzz/corpus/<target>/) plus what earlier runs found, then
# prints per target: executions, exec/s, coverage gained, new corpus units and crashes. Exits
# non-zero when a target crashed (or did not build or run); the crashing input is saved.
#
# Usage: fuzz/run.sh [--keep-going] [seconds_per_target] [target ...]   (default: 60 s, all)
#   fuzz/run.sh 20                      CI: 20 s per target
#   fuzz/run.sh 600 wire_fuzz           one target for 10 minutes
#   fuzz/run.sh --keep-going 3600       a campaign: go on after a crash, save them all
# Environment:
#   PSD_FUZZ_WORK      where the grown corpora, crashes and logs go (default
#                      ${TMPDIR:-/tmp}/psd-fuzz): <work>/<target>/{corpus,crashes,log}
#   PSD_FUZZ_RESULTS   also write "<target> <passed|failed> <reason>" lines to this file
#   PSD_FUZZ_ARGS      more libFuzzer flags for every target (e.g. -jobs=2 -workers=2)
# Each fuzzer runs in Bazel's linux-sandbox when it can (as the tests do): no network, and a
# read-only file system apart from its own work directory, so that no request a fuzzer makes
# up reaches another machine or writes outside <work>.
# Reproduce a crash: $(bazel info --config=fuzz bazel-bin)/fuzz/<target> <crash file>;
# group many by cause: fuzz/triage.sh <target> <crash files>.
set -euo pipefail
cd "$(dirname "$0")/.."

keep_going=0
if [[ ${1:-} == --keep-going ]]; then
  keep_going=1
  shift
fi
seconds=60
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
work=${PSD_FUZZ_WORK:-${TMPDIR:-/tmp}/psd-fuzz}
results=${PSD_FUZZ_RESULTS:-}
mkdir -p "$work"
work=$(cd "$work" && pwd)

all=$(bazel query --noshow_progress 'attr(tags, "\bpsd_fuzzer\b", //fuzz:*)' 2>/dev/null |
  sed 's|^//fuzz:||' | sort)
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  read -r -a targets <<<"$(echo $all)"
fi
labels=()
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$all" || { echo "fuzz/run.sh: no fuzz target '$t' (have: $(echo $all))" >&2; exit 2; }
  labels+=("//fuzz:$t")
done

note() { [[ -z $results ]] || echo "$*" >>"$results"; }

echo "fuzz/run.sh: building ${#targets[@]} fuzz targets (--config=fuzz)"
# Compiler warnings of the clang build (gRPC's generated headers have many) are left out.
if ! bazel build --config=fuzz --noshow_progress --output_filter='^//fuzz[:/]' "${labels[@]}"; then
  echo "fuzz/run.sh: the fuzz targets did not build" >&2
  for t in "${targets[@]}"; do note "$t failed build"; done
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)/fuzz

# Bazel's linux-sandbox: network namespace with loopback only, file system read-only but for
# the target's work directory (tests/run.sh probes it the same way).
sandbox=()
linux_sandbox=$(bazel info install_base 2>/dev/null)/linux-sandbox
if "$linux_sandbox" -N -W "$work" -w "$work" -- /bin/true >/dev/null 2>&1; then
  sandboxed=1
else
  sandboxed=0
  echo "fuzz/run.sh: WARNING: Bazel's linux-sandbox cannot run here: the fuzzers run" \
    "unsandboxed (with network access and a writable file system)" >&2
fi

# clang's runtimes look for llvm-symbolizer on PATH (Debian's llvm-14 has it under its own dir).
command -v llvm-symbolizer >/dev/null ||
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

failed=0
for t in "${targets[@]}"; do
  dir=$work/$t
  mkdir -p "$dir/corpus" "$dir/crashes" "$dir/tmp"
  log=$dir/log
  flags=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$dir/crashes/"
    -rss_limit_mb=2048 -timeout=30)
  case $t in
    # Checksums: value profiling lets libFuzzer solve CRC-32C comparisons.
    checkpoint_fuzz | model_file_fuzz) flags+=(-use_value_profile=1) ;;
  esac
  if [[ $keep_going -eq 1 ]]; then
    flags+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  fi
  # shellcheck disable=SC2206
  flags+=(${PSD_FUZZ_ARGS:-})
  find "$dir/crashes" -type f | sort >"$dir/crashes.before"
  units_before=$(find "$dir/corpus" -type f | wc -l)
  cmd=(env TMPDIR="$dir/tmp" "$bin/$t" "${flags[@]}" "$dir/corpus" "$PWD/fuzz/corpus/$t")
  if [[ $sandboxed -eq 1 ]]; then
    cmd=("$linux_sandbox" -N -W "$dir" -w "$dir" -- "${cmd[@]}")
  fi
  rc=0
  timeout $((seconds + 120)) "${cmd[@]}" >"$log" 2>&1 || rc=$?
  # Figures from libFuzzer's log: the final stats, and coverage at start and end ("cov: N").
  stat() { { grep -a "^stat::$1:" "$log" || true; } | tail -n 1 | awk '{print $2}'; }
  execs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  cov0=$({ grep -m 1 -aoE 'INITED cov: [0-9]+' "$log" || true; } | awk '{print $3}')
  cov1=$({ grep -aoE 'cov: [0-9]+' "$log" || true; } | tail -n 1 | awk '{print $2}')
  if [[ $keep_going -eq 1 ]]; then  # fork mode: "#N: cov: C ft: F corp: U exec/s E ..."
    execs=$({ grep -aoE '^#[0-9]+: cov' "$log" || true; } | tail -n 1 | tr -dc 0-9)
    rate=$([[ -n $execs ]] && echo $((execs / (seconds > 0 ? seconds : 1))))
    cov0=$({ grep -m 1 -aoE '^#[0-9]+: cov: [0-9]+' "$log" || true; } | awk '{print $3}')
  fi
  units=$(find "$dir/corpus" -type f | wc -l)
  find "$dir/crashes" -type f | sort | comm -13 "$dir/crashes.before" - >"$dir/crashes.new"
  crashes=$(wc -l <"$dir/crashes.new")
  [[ $rc -ne 0 && $crashes -eq 0 ]] && crashes=1  # died without saving an input
  printf 'fuzz: %-26s %10s executions  %7s exec/s  coverage %s -> %s  corpus %s (+%s)  crashes: %s\n' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov0:-?}" "${cov1:-?}" "$units" "$((units - units_before))" \
    "$crashes"
  if [[ $crashes -gt 0 ]]; then
    failed=$((failed + 1))
    # What went wrong: the error, the FUZZ_CHECK and its message, the top of the first stack.
    # (psd's own frames: their sources are under the sandbox's /proc/self/cwd).
    awk '/==ERROR|^SUMMARY: |runtime error:|^FUZZ_CHECK failed|^terminate called|what\(\)/ {
           print; prev = $0; next }
         prev ~ /^FUZZ_CHECK failed/ { print }
         /^ +#[0-9]+ .*\/proc\/self\/cwd\// && frames < 4 {
           sub(/\/proc\/self\/cwd\//, ""); print; frames++ }
         { prev = $0 }' "$log" | sed -n '1,12s/^/    /p' || true
    if [[ $keep_going -eq 1 && -s $dir/crashes.new ]]; then
      # Many inputs, few causes: group them (fuzz/triage.sh).
      # shellcheck disable=SC2046
      fuzz/triage.sh "$t" $(cat "$dir/crashes.new") | sed 's/^/    /' || true
    else
      sed -n '1,10s/^/    saved: /p' "$dir/crashes.new"
    fi
    [[ $rc -ne 0 ]] && echo "    exit status $rc; log: $log"
    note "$t failed $crashes crash(es), see $log"
  else
    note "$t passed"
  fi
done
echo "fuzz: ${#targets[@]} targets, $failed crashed (${seconds} s each; work dir $work)"
[[ $failed -eq 0 ]]
