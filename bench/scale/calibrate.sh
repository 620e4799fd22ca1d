#!/usr/bin/env bash
# Measures what bench/scale's simulator needs, with psd's own code on this machine, and writes
# the calibration file (default bench/scale/calibration.txt, not committed):
#   1. bench/pushpull:latency, psd's ping-pong benchmark (one PushPull round trip per size),
#      printed and kept beside the file (calibration.latency.log) for comparison;
#   2. psd_calibrate: gRPC round trips with their CPU time, server apply (ShardStore pushes
#      in-process), worker compute (a TrainingSession without servers), and real runs of the
#      job on S servers x W workers over loopback gRPC (1x1, 2x2, 4x4 by default).
# Usage: bench/scale/calibrate.sh [--out FILE] [--steps N] [--rounds N] [--runs 1x1,2x2,4x4]
#        [--job FILE]; BAZEL_FLAGS adds flags to bazel build (e.g. --disk_cache=DIR).
# Takes about a minute on an idle 2-core machine. Figures are only as quiet as the machine:
# run it when nothing else is busy (the load average is printed before and after).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/scale/calibration.txt
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --steps|--rounds|--runs|--job) args+=("$1=$2"); shift 2 ;;
    *) echo "calibrate.sh: unknown argument '$1' (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC2086
bazel build ${BAZEL_FLAGS:-} //bench/scale:psd_calibrate //bench/pushpull:latency
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
log=${out%.txt}.latency.log
echo "== psd's ping-pong (bench/pushpull:latency, plaintext, sync, one call in flight)"
bazel-bin/bench/pushpull/latency --sizes_kib 4,64,256,1024,4096 --rounds 60 | tee "$log"
echo "== psd_calibrate"
bazel-bin/bench/scale/psd_calibrate --out "$out" "${args[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
