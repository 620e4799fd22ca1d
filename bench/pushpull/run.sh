#!/usr/bin/env bash
# Builds and runs bench/pushpull, installing Debian's iperf3 first when it is missing (the
# bench measures the loopback TCP limit with it in the same run). Arguments go to the bench,
# e.g. bench/pushpull/run.sh --sizes_mib 16 --configs 1x1.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v iperf3 >/dev/null 2>&1; then
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends iperf3
fi
bazel build //bench/pushpull:pushpull //server:psd-server
exec bazel-bin/bench/pushpull/pushpull "$@"
