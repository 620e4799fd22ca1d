#!/usr/bin/env bash
# Packs this machine's CUDA toolkit (the parts psd's build uses: nvcc and its tools, nvvm,
# headers, cudart, cuBLAS, cuBLASLt) into an image, for the image's CUDA build where
# nvidia/cuda images cannot be pulled:
#   deploy/docker/make-cuda-toolkit-image.sh
#   deploy/docker/build-image.sh --cuda --cuda-toolkit-image localhost/psd-cuda-toolkit:13.0 \
#     --cuda-toolkit-dir /usr/local/cuda-13.0
# Usage: make-cuda-toolkit-image.sh [--cuda DIR] [--tag TAG]
set -euo pipefail

die() { echo "make-cuda-toolkit-image.sh: $*" >&2; exit 1; }
cuda=${CUDA_PATH:-/usr/local/cuda}
tag=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuda) cuda=${2:?--cuda needs a value}; shift 2 ;;
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
command -v podman >/dev/null || die "podman not found: apt-get install podman"
root=$(readlink -f "$cuda")
[[ -x "$root/bin/nvcc" ]] || die "no CUDA toolkit at $cuda (no bin/nvcc)"
version=$("$root/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')
[[ -n "$version" ]] || die "cannot tell the CUDA version from $root/bin/nvcc --version"
[[ -n "$tag" ]] || tag=localhost/psd-cuda-toolkit:$version
libdir=lib64
[[ -d "$root/lib64" ]] || libdir=lib

# The toolkit keeps its own path (e.g. /usr/local/cuda-13.0): build-image.sh --cuda-toolkit-dir.
files=(bin nvvm include)
for lib in "$root/$libdir"/libcudart.so* "$root/$libdir"/libcublas.so* "$root/$libdir"/libcublasLt.so*; do
  files+=("$libdir/$(basename "$lib")")
done
[[ "$libdir" == lib64 ]] || { [[ -e "$root/lib64" ]] && files+=(lib64); }
tar -C / -c "${files[@]/#/${root#/}/}" |
  podman import -q --change 'CMD ["/bin/false"]' - "$tag" >/dev/null
echo "make-cuda-toolkit-image.sh: $tag holds $root ($(podman image inspect --format '{{.Size}}' "$tag") bytes); build with:"
echo "  deploy/docker/build-image.sh --cuda --cuda-toolkit-image $tag --cuda-toolkit-dir $root"
