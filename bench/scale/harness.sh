#!/usr/bin/env bash
# Builds and runs the bench/scale harness: a real coordinator and 8 servers on 127.0.0.1
# against 8, 64, 128 and 256 light worker processes; prints registration time, coordinator CPU
# per heartbeat and memory per node, job start, sync step latency and async push rate.
# Usage: bench/scale/harness.sh [--workers 8,64,128,256] [--servers 8] [other flags, see --help]
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel build --curses=no //bench/scale/harness:scale_bench
ulimit -n 65536 2>/dev/null || true
exec bazel-bin/bench/scale/harness/scale_bench "$@"
