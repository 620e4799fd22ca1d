#!/usr/bin/env bash
# Runs bench/consistency and renders its accuracy-vs-time curves as a PNG with gnuplot.
# Usage: bench/consistency/run.sh [flags of the benchmark, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/install_deps.sh gnuplot-nox
bazel build --curses=no //bench/consistency 2>&1 | grep -E "ERROR|error:" && exit 1
out=bench/out/consistency
mkdir -p "$out"
bazel-bin/bench/consistency/consistency --out "$out" "$@" | tee "$out/table.txt"
gnuplot <<GNUPLOT
set terminal pngcairo size 900,560
set output "$out/curves.png"
set datafile separator ","
set key bottom right
set grid
set xlabel "wall time (s)"
set ylabel "test accuracy"
set title "Fashion-MNIST MLP, 4 workers, one 3x slower"
modes = system("cut -d, -f1 $out/curves.csv | tail -n +2 | uniq | tr '\\n' ' '")
plot for [m in modes] "< grep '^".m.",' $out/curves.csv" using 2:4 with linespoints title m
GNUPLOT
echo "plot: $out/curves.png"
