#!/usr/bin/env bash
# bench/scale in one command (docs/scaling.md): builds the simulator, calibrates it on this
# machine when there is no calibration file yet (or with --calibrate), checks it against the
# measured runs (1x1, 2x2, 4x4 on this machine), then prints the predictions for big
# clusters on 25 and 100 Gbps links.
# Usage: bench/scale/simulate.sh [--calibrate] [--calibration FILE] [--no-sweep]
#        [psd_sim flags, e.g. --sweep_configs 16x4,64x16 --sweep_models mlp100m]
# BAZEL_FLAGS adds flags to bazel build (e.g. --disk_cache=DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
calibration=bench/scale/calibration.txt
calibrate=0
sweep=(--sweep)
sim_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --calibrate) calibrate=1; shift ;;
    --calibration) calibration=$2; shift 2 ;;
    --no-sweep) sweep=(); shift ;;
    *) sim_args+=("$1"); shift ;;
  esac
done
# shellcheck disable=SC2086
bazel build ${BAZEL_FLAGS:-} //bench/scale:psd_sim
if [[ $calibrate -eq 1 || ! -f $calibration ]]; then
  bench/scale/calibrate.sh --out "$calibration"
fi
start=$(date +%s)
bazel-bin/bench/scale/psd_sim --calibration "$calibration" --check "${sweep[@]}" "${sim_args[@]}"
echo "simulated in $(( $(date +%s) - start )) s"
