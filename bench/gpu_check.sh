#!/usr/bin/env bash
# Runs psd's CUDA checks on a machine with an NVIDIA GPU that has no Bazel and no Debian
# libraries (see shared/notes/gpu-machine.md): build and package here, run there.
#
#   bench/gpu_check.sh package DIR [BENCH_TARGET...]   # here: build, copy binaries + libraries
#   DIR/gpu_check.sh run DIR                           # there: CUDA tests, benchmarks, a table
#
# `package` builds the CUDA tests, //bench/kernels and //bench/devices (plus any extra
# benchmark targets, e.g. a training benchmark, each run without arguments), copies them to
# DIR/bin and every shared library they load that is not part of the base system or of CUDA
# to DIR/lib. libstdc++ and libgcc_s go to DIR/lib/fallback, used only when the machine's own
# are too old. CUDA's libcudart/libcublas come from the GPU machine's CUDA install ($CUDA_HOME, /usr/local/cuda,
# or the nvidia-* Python packages). `run` writes each log to DIR/results/ and prints the table
# last.
set -uo pipefail

SCRIPT=$(realpath "$0")

usage() {
  sed -n '2,9p' "$SCRIPT" | sed 's/^# \{0,1\}//'
  exit 2
}

# Test binaries (bazel target -> name in DIR/bin) and the kernel benchmark.
TESTS=(//kernels:select_test //kernels:cuda_backend_test //worker:model_test //worker:device_group_test)
BENCHES=(//bench/kernels:kernels //bench/devices:devices)

# Libraries every Linux system has, or that must come from the machine's own CUDA install.
SKIP_RE='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libresolv\.|libcuda\.|libcudart\.|libcublas\.|libcublasLt\.|libnvidia)'
FALLBACK_RE='^(libstdc\+\+|libgcc_s)\.'

bin_name() {  # //kernels:cuda_backend_test -> cuda_backend_test; //bench/kernels:kernels -> kernels_bench
  local t=$1 name=${1##*:}
  [[ $t == //bench/* ]] && name="${name%_bench}_bench"
  echo "$name"
}

package() {
  local dir
  dir=$(realpath -m "$1")
  shift
  local benches=("${BENCHES[@]}" "$@")
  cd "$(dirname "$SCRIPT")/.." || exit 1
  bazel build "${TESTS[@]}" "${benches[@]}" || { echo "build failed" >&2; exit 1; }
  local bazel_bin
  bazel_bin=$(bazel info bazel-bin 2>/dev/null)
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/lib/fallback" "$dir/results"
  : >"$dir/manifest"
  local t path name originals=()
  for t in "${TESTS[@]}" "${benches[@]}"; do
    path=${t#//}
    path=${path/://}
    name=$(bin_name "$t")
    originals+=("$bazel_bin/$path")
    cp -L "$bazel_bin/$path" "$dir/bin/$name"
    if [[ " ${TESTS[*]} " == *" $t "* ]]; then echo "test $name" >>"$dir/manifest"; else echo "bench $name" >>"$dir/manifest"; fi
  done
  local lib file base
  # ldd on the originals: test binaries find Bazel's own shared libraries relative to bazel-bin.
  for file in "${originals[@]}"; do
    ldd "$file" | awk '/=> \//{print $3}' | while read -r lib; do
      base=$(basename "$lib")
      [[ $base =~ $SKIP_RE ]] && continue
      if [[ $base =~ $FALLBACK_RE ]]; then
        cp -Ln "$lib" "$dir/lib/fallback/$base"
      else
        cp -Ln "$lib" "$dir/lib/$base"
      fi
    done
  done
  cp "$SCRIPT" "$dir/gpu_check.sh"
  chmod +x "$dir/gpu_check.sh"
  echo "packaged $(wc -l <"$dir/manifest") binaries and $(ls "$dir/lib" | grep -c '\.so') libraries into $dir ($(du -sh "$dir" | cut -f1))"
  echo "on the GPU machine: $dir/gpu_check.sh run $dir"
}

# Prints the lib/ folders of the nvidia-* Python packages (PyTorch's CUDA) that hold CUDA 13.
PY_NVIDIA_LIBS='
import glob, os, site
for root in site.getsitepackages() + [site.getusersitepackages()]:
    for lib in glob.glob(os.path.join(root, "nvidia", "*", "lib")):
        if glob.glob(os.path.join(lib, "libcu*.so.13")):
            print(lib)
'

# Directories holding the machine's libcudart.so.13 and libcublas.so.13, colon-separated.
cuda_lib_dirs() {
  local dirs=() d
  for d in "${CUDA_HOME:-}/lib64" "${CUDA_PATH:-}/lib64" /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 \
      /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [[ -e $d/libcublas.so.13 || -e $d/libcudart.so.13 ]] || continue
    d=$(realpath "$d")
    [[ " ${dirs[*]} " == *" $d "* ]] || dirs+=("$d")
  done
  if [[ ${#dirs[@]} -eq 0 ]] && command -v python3 >/dev/null; then
    while read -r d; do [[ -n $d ]] && dirs+=("$d"); done < <(python3 -c "$PY_NVIDIA_LIBS" 2>/dev/null)
  fi
  local IFS=:
  echo "${dirs[*]}"
}

run() {
  local dir
  dir=$(cd "$1" && pwd) || exit 1
  local results=$dir/results
  mkdir -p "$results"
  local cuda_dirs
  cuda_dirs=$(cuda_lib_dirs)
  export LD_LIBRARY_PATH="$dir/lib${cuda_dirs:+:$cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local from=$cuda_dirs
  [[ -z $from ]] && from="nowhere else: the binaries fall back on their rpath /usr/local/cuda/lib64"
  echo "CUDA libraries from: $from"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

  # A binary that cannot load prints the dynamic loader's complaint and exits 127.
  local first
  first=$(awk '$1 == "test" {print $2; exit}' "$dir/manifest")
  if "$dir/bin/$first" --help 2>&1 >/dev/null | grep -q 'error while loading shared libraries'; then
    echo "the binaries do not load with this machine's libstdc++ or libgcc_s; using the packaged ones"
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir/lib/fallback"
    "$dir/bin/$first" --help >/dev/null || exit 1
  fi

  local kind name summary rc line table=()
  while read -r kind name; do
    [[ $kind == test ]] || continue
    echo "== $name"
    "$dir/bin/$name" >"$results/$name.log" 2>&1
    rc=$?
    grep -a '^SKIPPED: \|FAILED\|^PSD_TEST_SUMMARY' "$results/$name.log" | head -20
    summary=$(grep -a '^PSD_TEST_SUMMARY' "$results/$name.log" | tail -n 1)
    printf -v line '%-22s %s (exit %d)' "$name" "${summary#PSD_TEST_SUMMARY }" "$rc"
    table+=("$line")
  done <"$dir/manifest"

  while read -r kind name; do
    [[ $kind == bench ]] || continue
    echo "== $name"
    "$dir/bin/$name" >"$results/$name.log" 2>&1
    rc=$?
    tail -n 25 "$results/$name.log"
    printf -v line '%-22s exit %d, output in results/%s.log' "$name" "$rc" "$name"
    table+=("$line")
  done <"$dir/manifest"

  echo
  echo "==================== psd GPU check ===================="
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1
  printf '%s\n' "${table[@]}"
  if [[ -f $results/kernels_bench.log ]]; then
    echo
    sed -n '/^backend /,$p' "$results/kernels_bench.log"
  fi
}

case "${1:-}" in
  package) [[ $# -ge 2 ]] || usage; package "${@:2}" ;;
  run) [[ $# -eq 2 ]] || usage; run "$2" ;;
  *) usage ;;
esac
