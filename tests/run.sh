#!/usr/bin/env bash
# Installs what psd needs (Debian packages), builds everything, runs every test, and ends
# with the line "N passed, N failed" counting test cases across all test binaries.
# Usage: tests/run.sh [bazel test target patterns...]   (default: //...)
set -uo pipefail
cd "$(dirname "$0")/.."

deploy/local/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(//...)
flags=(--test_output=errors)
if [[ -n "${CI:-}" || ! -t 1 ]]; then
  flags+=(--curses=no --color=no --show_progress_rate_limit=30)
fi
trap 'bazel shutdown >/dev/null 2>&1' EXIT

bazel test "${flags[@]}" --build_tests_only=false -- "${targets[@]}"
bazel_rc=$?

# Each psd test binary prints "PSD_TEST_SUMMARY passed=P failed=F skipped=S"; a binary that
# crashed, timed out or did not build counts as one failed test case.
passed=0 failed=0 skipped=0
testlogs=$(bazel info bazel-testlogs 2>/dev/null)
for t in $(bazel query "tests(set(${targets[*]}))" 2>/dev/null); do
  path=${t#//}
  log="$testlogs/${path/://}/test.log"
  line=$(grep -a '^PSD_TEST_SUMMARY ' "$log" 2>/dev/null | tail -n 1)
  if [[ -z "$line" ]]; then
    echo "no test summary from $t (crashed, timed out or did not build)"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s <<<"$(sed -E 's/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+).*/\1 \2 \3/' <<<"$line")"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  grep -a '^SKIPPED: ' "$log" | sed "s|^|$t: |" || true
done
[[ $skipped -gt 0 ]] && echo "$skipped test cases skipped (see the SKIPPED lines above)"
if [[ $bazel_rc -ne 0 && $failed -eq 0 ]]; then
  echo "bazel test exited with $bazel_rc"
  failed=1
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
