#!/usr/bin/env bash
# Installs what psd and its tests need (deploy/local/install_deps.sh --tests), builds everything,
# runs every test with the network denied to tests, and ends with the line "N passed, N failed"
# counting test cases across all test binaries (every run of every test, with --runs_per_test).
# Test results are never taken from Bazel's cache (pass --cache_test_results=yes to allow it).
# Usage: tests/run.sh [--bazel-flag=value ...] [--] [target pattern ...]   (default: //...)
#   tests/run.sh //server/... //tests:training_test
#   tests/run.sh --runs_per_test=5 //...        (hunting flaky tests)
# Bazel flags take the --flag=value form; a pattern may exclude, as in bazel: //... -//bench/...
#
# Without patterns (the README's command, and CI) the suite is followed by three more phases,
# each counted in the same final line (docs/building.md, "Sanitisers" and "Fuzzing"):
#   asan  the unit and process tests (every cc_test but the large e2e ones) under --config=asan
#   tsan  the concurrent server/client tests ($tsan_query below) under --config=tsan
#   fuzz  each fuzz target for $PSD_FUZZ_SECONDS (default 20) s, one test case each
#         (passed: no crash), by fuzz/run.sh
# PSD_SKIP_PHASES="asan tsan fuzz" (any of them) skips phases locally; .ci/run runs them all.
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
phases=(default)
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(//...)
  for p in asan tsan fuzz; do
    skip=${PSD_SKIP_PHASES:-}
    [[ " ${skip//,/ } " == *" $p "* ]] || phases+=("$p")
  done
fi
# The concurrent server/client tests: the daemons' libraries in one process, their threads
# (shard store, work pools, node agents, pulls that wait, the coordinator's monitor) against
# gRPC's. Not the process tests (tests that start daemons: under TSan every daemon is one).
tsan_query='kind(cc_test, //server/... + //coordinator/... + //worker/... + //node/...
  + //tests:ps_rpc_test + //tests:authz_test + //tests:server_jobs_test
  + //tools:psdctl_recovery_test)'

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

passed=0 failed=$failed_setup skipped=0

# run_tests PHASE TESTS BAZEL_ARGS...: runs `bazel test BAZEL_ARGS`, then adds the test cases of
# TESTS (newline-separated labels) to the counts. Each psd test binary prints "PSD_TEST_SUMMARY
# passed=P failed=F skipped=S"; every run (and attempt) of a test counts, read from the log the
# build event protocol names for it. A test that crashed, timed out or did not build counts as
# one failed test case; so does a bazel failure that left no failed test to show for it.
run_tests() {
  local phase=$1 tests=$2
  shift 2
  local bep=$work/bep-$phase.json bazel_rc=0 p0=$passed f0=$failed s0=$skipped start=$SECONDS
  bazel test "${flags[@]}" "${user_flags[@]}" --build_event_json_file="$bep" "$@" ||
    bazel_rc=$?
  local t logs log line p f s
  for t in $tests; do
    logs=$(grep -F "\"testResult\":{\"label\":\"$t\"," "$bep" 2>/dev/null |
      grep -oE '"name":"test.log","uri":"file://[^"]*"' |
      sed -E 's|.*"file://([^"]*)"|\1|' | sort -u || true)
    if [[ -z "$logs" ]]; then
      echo "$phase: no test log from $t (did not build or did not run)"
      failed=$((failed + 1))
      continue
    fi
    while IFS= read -r log; do
      log=$(printf '%b' "${log//%/\\x}")  # the URI's %-escapes
      line=$(grep -a '^PSD_TEST_SUMMARY ' "$log" 2>/dev/null | tail -n 1 || true)
      if [[ -z "$line" ]]; then
        echo "$phase: no test summary from $t in $log (crashed or timed out)"
        failed=$((failed + 1))
        continue
      fi
      counts='s/.*passed=([0-9]+) failed=([0-9]+) skipped=([0-9]+).*/\1 \2 \3/'
      read -r p f s <<<"$(sed -E "$counts" <<<"$line")"
      passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
      grep -a '^SKIPPED: ' "$log" | sed "s|^|$t: |" >>"$work/skipped" || true
    done <<<"$logs"
  done
  if [[ $bazel_rc -ne 0 && $failed -eq $f0 ]]; then
    echo "$phase: bazel test exited with $bazel_rc"
    failed=$((failed + 1))
  fi
  summary+=("$phase: $((passed - p0)) passed, $((failed - f0)) failed, $((skipped - s0)) skipped" \
    "($((SECONDS - start)) s)")
}

summary=()
tests=$(bazel query "tests($expr)" 2>/dev/null || true)
run_tests default "$tests" -- "${targets[@]}"

for phase in "${phases[@]:1}"; do
  echo "tests/run.sh: phase $phase"
  case $phase in
    asan)
      # Every cc_test (the shell tests check manifests and the sandbox: nothing to sanitise).
      # The large end-to-end tests (real clusters, minutes each) stay out: under ASan on 2 cores
      # their heartbeats and deadlines would measure the sanitiser, not psd.
      tests=$(bazel query "kind(cc_test, tests($expr)) except attr(size, large, tests($expr))" \
        2>/dev/null || true)
      # shellcheck disable=SC2086
      run_tests asan "$tests" --config=asan -- $tests
      ;;
    tsan)
      tests=$(bazel query "$tsan_query" 2>/dev/null || true)
      # shellcheck disable=SC2086
      run_tests tsan "$tests" --config=tsan -- $tests
      ;;
    fuzz)
      # One test case per fuzz target: passed when it ran its time without a crash.
      # From the seeds alone, every run; the work dir (the inputs that crashed) is kept when
      # a target failed.
      start=$SECONDS
      : >"$work/fuzz-results"
      fuzz_work=$(mktemp -d "${TMPDIR:-/tmp}/psd-fuzz-run.XXXXXX")
      fuzz_rc=0
      PSD_FUZZ_RESULTS=$work/fuzz-results PSD_FUZZ_WORK=$fuzz_work \
        fuzz/run.sh "${PSD_FUZZ_SECONDS:-20}" || fuzz_rc=$?
      p=$(grep -c ' passed' "$work/fuzz-results" || true)
      f=$(grep -c ' failed' "$work/fuzz-results" || true)
      if [[ $fuzz_rc -ne 0 && $f -eq 0 ]]; then
        echo "fuzz: fuzz/run.sh exited with $fuzz_rc"
        f=1
      fi
      passed=$((passed + p)) failed=$((failed + f))
      if [[ $f -eq 0 ]]; then
        rm -rf "$fuzz_work"
      else
        echo "fuzz: crashing inputs and logs kept in $fuzz_work"
      fi
      summary+=("fuzz: $p passed, $f failed ($((SECONDS - start)) s)")
      ;;
  esac
done

if [[ $skipped -gt 0 ]]; then
  sort -u "$work/skipped"
  echo "$skipped test cases skipped (see the SKIPPED lines above)"
fi
[[ ${#phases[@]} -gt 1 ]] && printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
