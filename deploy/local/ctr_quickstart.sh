#!/usr/bin/env bash
# One command for a click-through-rate job: installs what is missing, builds psd, generates
# Criteo-layout data from a planted model (psd-datagen ctr, which prints the best test AUC any
# model can reach on it), starts a local cluster (coordinator, 2 servers, 2 workers), trains
# examples/ctr_dlrm.yaml (or JOB_FILE) on it, prints the servers' tables (psdctl status) and
# the result, and takes the cluster down again (also when interrupted).
# Usage: deploy/local/ctr_quickstart.sh [JOB_FILE]
# Env: PSD_CTR_DATA (default /tmp/psd-ctr, where the example job files look), PSD_CTR_ROWS
# (train rows, default 200000), PSD_CTR_CARDINALITY (values per field, default 10000).
set -euo pipefail
cd "$(dirname "$0")/../.."

job=${1:-examples/ctr_dlrm.yaml}
[[ -f "$job" ]] || { echo "ctr_quickstart: no job file $job" >&2; exit 2; }
data=${PSD_CTR_DATA:-/tmp/psd-ctr}
rows=${PSD_CTR_ROWS:-200000}
cardinality=${PSD_CTR_CARDINALITY:-10000}

deploy/local/install_deps.sh
echo "ctr_quickstart: building psd (bazel build //...; the first build takes a few minutes)"
build_log=$(mktemp -t psd-build.XXXXXX)
if ! bazel build --curses=no --show_progress_rate_limit=30 //... >"$build_log" 2>&1; then
  grep -E "ERROR|error:" "$build_log" | head -n 20 >&2
  echo "ctr_quickstart: build failed (full log: $build_log)" >&2
  exit 1
fi
rm -f "$build_log"
bazel shutdown >/dev/null 2>&1 || true

echo "ctr_quickstart: generating $rows train rows into $data"
bazel-bin/tools/psd-datagen ctr --out "$data" --train_rows "$rows" \
  --test_rows $((rows / 10)) --cardinality "$cardinality" --seed 1
if [[ "$data" != /tmp/psd-ctr ]]; then
  sed "s#/tmp/psd-ctr/#$data/#g" "$job" >"$data/job.yaml"
  job=$data/job.yaml
fi

run_dir=${PSD_RUN_DIR:-$PWD/.run/ctr_quickstart}
cleanup() { deploy/local/cluster.sh down --run-dir "$run_dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

deploy/local/cluster.sh up --servers 2 --workers 2 --base-port 0 --run-dir "$run_dir"
export PSD_COORDINATOR=$(<"$run_dir/coordinator.addr")
export PSD_RUN_DIR=$run_dir
bazel-bin/tools/psdctl validate "$job"
id=$(bazel-bin/tools/psdctl submit "$job")  # prints the job id
# Watch it: progress lines with the test AUC, then the tables as the servers hold them.
bazel-bin/tools/psdctl wait "$id" &
waiter=$!
# The tables row is there while the job runs (the servers answer for their rows).
for _ in $(seq 100); do
  status=$(bazel-bin/tools/psdctl status "$id" 2>/dev/null || true)
  if grep -q "^tables" <<<"$status"; then
    grep -E "^(progress|tables)" <<<"$status"
    break
  fi
  grep -qE "^state +(succeeded|failed|cancelled)" <<<"$status" && break
  sleep 0.2
done
# The last line is "job <id> succeeded: test_auc=<x> test_logloss=<y> wall_s=<z>".
wait "$waiter"
