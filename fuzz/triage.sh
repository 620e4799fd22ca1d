#!/usr/bin/env bash
# Groups crashing inputs of a fuzz target by cause: runs the target on each input and prints,
# per distinct cause (the sanitizer's or FUZZ_CHECK's verdict and the first frame in psd's code),
# how many inputs hit it and the smallest one. fuzz/run.sh --keep-going calls it; it also runs
# alone on a built target (--config=fuzz).
# Usage: fuzz/triage.sh TARGET INPUT...
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
shift
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)/fuzz/$target
command -v llvm-symbolizer >/dev/null ||
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for input in "$@"; do
  log=$(env TMPDIR="${TMPDIR:-/tmp}" timeout 60 "$bin" -runs=1 "$input" 2>&1 || true)
  what=$(grep -aoE 'FUZZ_CHECK failed at [^ ]+|ERROR: AddressSanitizer: [a-z-]+|runtime error: .*|terminate called after throwing an instance of .*|ERROR: libFuzzer: [a-z-]+|LeakSanitizer: detected memory leaks' <<<"$log" | head -n 1 || true)
  where=$(grep -aoE '(/proc/self/cwd/|^ +#[0-9]+ .* )(common|server|worker|coordinator|proto|node|optim|kernels|tools)/[^ ]+:[0-9]+' <<<"$log" |
    grep -v '^$' | head -n 1 | sed -E 's|.*/proc/self/cwd/||; s|^ +#[0-9]+ .* ||' || true)
  [[ -z $what ]] && what="no crash (fixed, or depends on state)"
  printf '%s\t%s\t%s\t%s\n' "$what" "${where:--}" "$(stat -c %s "$input")" "$input" >>"$out"
done
# count, cause, first psd frame, smallest input
sort -t $'\t' -k1,2 -k3,3n "$out" | awk -F '\t' '
  { key = $1 "\t" $2; n[key]++; if (!(key in first)) { first[key] = $4; order[++k] = key } }
  END { for (i = 1; i <= k; i++) { split(order[i], f, "\t");
        printf "%5d  %s\n       at %s\n       e.g. %s\n", n[order[i]], f[1], f[2], first[order[i]] } }'
