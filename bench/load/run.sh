#!/usr/bin/env bash
# Builds and runs bench/load: a local cluster (1 server, 1 worker, mutual TLS) trains a job
# alone, then again while --clients clients call the coordinator and the server for --seconds.
# Usage: bench/load/run.sh [--seconds 60] [--clients 64] [other flags of the bench, see --help]
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build --curses=no //bench/load:load_bench
exec bazel-bin/bench/load/load_bench "$@"
