#!/usr/bin/env bash
# The README's first command: installs what is missing, builds psd, starts a local cluster
# (coordinator, 2 servers, 2 workers), trains examples/fashion_mnist_mlp.yaml on it, prints
# the result, and takes the cluster down again (also when interrupted). The cluster runs with
# mutual TLS: cluster.sh makes the certificates, and psdctl finds the admin's in
# $PSD_RUN_DIR/certs.
# Usage: deploy/local/quickstart.sh [JOB_FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."

job=${1:-examples/fashion_mnist_mlp.yaml}
[[ -f "$job" ]] || { echo "quickstart: no job file $job" >&2; exit 2; }

deploy/local/install_deps.sh
echo "quickstart: building psd (bazel build //...; the first build takes a few minutes)"
build_log=$(mktemp -t psd-build.XXXXXX)
if ! bazel build --curses=no --show_progress_rate_limit=30 //... >"$build_log" 2>&1; then
  grep -E "ERROR|error:" "$build_log" | head -n 20 >&2
  echo "quickstart: build failed (full log: $build_log)" >&2
  exit 1
fi
grep -E "Build completed" "$build_log" || true
rm -f "$build_log"
bazel shutdown >/dev/null 2>&1 || true

run_dir=${PSD_RUN_DIR:-$PWD/.run/quickstart}
cleanup() { deploy/local/cluster.sh down --run-dir "$run_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

deploy/local/cluster.sh up --servers 2 --workers 2 --base-port 0 --run-dir "$run_dir"
export PSD_COORDINATOR=$(<"$run_dir/coordinator.addr")
export PSD_RUN_DIR=$run_dir  # psdctl uses the admin certificate in $PSD_RUN_DIR/certs
if [[ -f "$run_dir/console.port" ]]; then
  echo "quickstart: watch the job live in the console: http://127.0.0.1:$(<"$run_dir/console.port")/"
fi
# The last line is "job <id> succeeded: test_accuracy=<x> wall_s=<y>" (or "failed: <reason>").
bazel-bin/tools/psdctl validate "$job"
bazel-bin/tools/psdctl submit "$job" --wait
