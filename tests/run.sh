#!/usr/bin/env bash
# Installs what psd and its tests need (deploy/local/install_deps.sh --tests), builds everything,
# runs every test with the network denied to tests, and ends with the line "N passed, N failed"
# counting test cases across all test binaries (every run of every test, with --runs_per_test).
# Test results are never taken from Bazel's cache (pass --cache_test_results=yes to allow it).
# Usage: tests/run.sh [--bazel-flag=value ...] [--] [target pattern ...]   (default: //...)
#   tests/run.sh //server/... //tests:training_test
#   tests/run.sh --runs_per_test=5 //...        (hunting flaky tests)
# Bazel flags take the --flag=value form; a pattern may exclude, as in bazel: //... -//bench/...
set -euo pipefail
cd "$(dirname "$0")/.."

user_flags=() targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --) shift; targets+=("$@"); break ;;
    --*) user_flags+=("$1") ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[[ ${#targets[@]} -eq 0 ]] && targets=(//...)

deploy/local/install_deps.sh --tests || { echo "0 passed, 1 failed"; exit 1; }

flags=(--test_output=errors --nocache_test_results --build_tests_only=false)
if [[ -n "${CI:-}" || ! -t 1 ]]; then
  flags+=(--curses=no --color=no --show_progress_rate_limit=30)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/psd-run.XXXXXX")
trap 'bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

# The query expression of the patterns: "a b -c" is "a + b - c".
expr=
for t in "${targets[@]}"; do
  if [[ $t == -* ]]; then
    expr+=" - ${t#-}"
  elif [[ -z $expr ]]; then
    expr=$t
  else
    expr+=" + $t"
  fi
done

# The network is denied to tests by .bazelrc (linux-sandbox, --sandbox_default_allow_network=false),
# which this probe tries first. Where Bazel's linux-sandbox cannot run (no user namespaces, as in
# some rootless containers), tests run in the process-wrapper sandbox, with the network, and say
# so (and //tests/sandbox:network_denied_test reports skipped with the reason).
failed_setup=0
install_base=$(bazel info install_base 2>/dev/null || true)
if probe=$("$install_base/linux-sandbox" -N -e /run -- /bin/true 2>&1); then
  echo "tests/run.sh: tests run in Bazel's linux-sandbox with the network denied (loopback only)"
else
  why="Bazel's linux-sandbox cannot run here ($(tail -n 1 <<<"${probe:-no linux-sandbox}"))"
  echo "tests/run.sh: WARNING: $why: tests run in the process-wrapper sandbox WITH network" \
    "access; a test that reaches out is not caught on this machine" >&2
  flags+=(--strategy=TestRunner=processwrapper-sandbox
    "--test_env=PSD_NETWORK_DENIAL=unavailable: $why")
fi
# A tag that lets a test out of the sandbox or onto the network is refused.
escaping=$(bazel query "attr(tags, '\\b(local|no-sandbox|requires-network)\\b', tests($expr))" \
  2>/dev/null || true)
if [[ -n "$escaping" ]]; then
  echo "tests/run.sh: tagged local, no-sandbox or requires-network (tests run sandboxed, without" \
    "network): $(paste -sd ' ' <<<"$escaping")" >&2
  failed_setup=1
fi

bep=$work/bep.json
bazel_rc=0
bazel test "${flags[@]}" "${user_flags[@]}" --build_event_json_file="$bep" -- "${targets[@]}" ||
  bazel_rc=$?

# Each psd test binary prints "PSD_TEST_SUMMARY passed=P failed=F skipped=S"; every run (and
# attempt) of a test counts, read from the log the build event protocol names for it. A test that
# crashed, timed out or did not build counts as one failed test case.
passed=0 failed=$failed_setup skipped=0
tests=$(bazel query "tests($expr)" 2>/dev/null || true)
for t in $tests; do
  logs=$(grep -F "\"testResult\":{\"label\":\"$t\"," "$bep" 2>/dev/null |
    grep -oE '"name":"test.log","uri":"file://[^"]*"' |
    sed -E 's|.*"file://([^"]*)"|\1|' | sort -u || true)
  if [[ -z "$logs" ]]; then
    echo "no test log from $t (did not build or did not run)"
    failed=$((failed + 1))
    continue
  fi
  while IFS= read -r log; do
    log=$(printf '%b' "${log//%/\\x}")  # the URI's %-escapes
    line=$(grep -a '^PSD_TEST_SUMMARY ' "$log" 2>/dev/null | tail -n 1 || true)
    if [[ -z "$line" ]]; then
      echo "no test summary from $t in $log (crashed or timed out)"
      failed=$((failed + 1))
      continue
    fi
    counts='s/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+).*/\1 \2 \3/'
    read -r p f s <<<"$(sed -E "$counts" <<<"$line")"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    grep -a '^SKIPPED: ' "$log" | sed "s|^|$t: |" >>"$work/skipped" || true
  done <<<"$logs"
done
if [[ $skipped -gt 0 ]]; then
  sort -u "$work/skipped"
  echo "$skipped test cases skipped (see the SKIPPED lines above)"
fi
if [[ $bazel_rc -ne 0 && $failed -eq 0 ]]; then
  echo "bazel test exited with $bazel_rc"
  failed=1
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
