# Test-case bookkeeping for the shell tests in tests/deploy (source it): each case ends with
# pass, fail or skip, and the test ends with the line tests/run.sh adds up:
#   PSD_TEST_SUMMARY passed=P failed=F skipped=S
# A test that skips prints "SKIPPED: name: reason" (tests/run.sh lists those lines).
# shellcheck shell=bash

psd_passed=0 psd_failed=0 psd_skipped=0

pass() { psd_passed=$((psd_passed + 1)); echo "PASSED: $1"; }
fail() { psd_failed=$((psd_failed + 1)); echo "FAILED: $1${2:+: $2}"; }
skip() { psd_skipped=$((psd_skipped + 1)); echo "SKIPPED: $1: $2"; }

# Prints the summary; the exit status is 1 if a case failed. Call it last (or from an EXIT trap).
summary() {
  echo "PSD_TEST_SUMMARY passed=$psd_passed failed=$psd_failed skipped=$psd_skipped"
  [[ $psd_failed -eq 0 ]]
}

# The repository root inside the test's runfiles (Bazel), else the checkout this file is in.
repo_root() {
  if [[ -n "${TEST_SRCDIR:-}" && -d "$TEST_SRCDIR/${TEST_WORKSPACE:-psd}" ]]; then
    echo "$TEST_SRCDIR/${TEST_WORKSPACE:-psd}"
  else
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  fi
}

# A scratch directory that the test owns: $TEST_TMPDIR under Bazel.
scratch_dir() {
  local base=${TEST_TMPDIR:-${TMPDIR:-/tmp}}
  mktemp -d "$base/psd-deploy-test.XXXXXX"
}
