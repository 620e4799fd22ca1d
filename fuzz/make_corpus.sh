#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (checked in), made by
# //fuzz:make_corpus with psd's own writers, plus the example job specs. Run it again when a
# format changes; the seeds are small (a few KB per target).
# Usage: fuzz/make_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/fuzz/corpus
rm -rf "$out"
mkdir -p "$out"
bazel run --ui_event_filters=-info --noshow_progress //fuzz:make_corpus -- "$out"
cp examples/*.yaml "$out/jobspec_fuzz/"
find "$out" -type f | sort | sed "s|^$PWD/||"
