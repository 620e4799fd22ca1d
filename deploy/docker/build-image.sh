#!/usr/bin/env bash
# Builds psd's container image from deploy/docker/Dockerfile with podman, buildah or docker
# (the first found; a Docker engine is not needed), then prints the image's size and the build
# time.
# Usage: deploy/docker/build-image.sh [options]
#   --tag T                 image name (default psd:latest; psd:cuda with --cuda)
#   --base IMAGE            Debian bookworm image of the build stage (default debian:bookworm)
#   --runtime-base IMAGE    Debian bookworm image of the runtime stage (default
#                           debian:bookworm-slim; defaults to --base when --base is given)
#   --cuda                  also build the CUDA backend (needs --cuda-toolkit-image)
#   --cuda-toolkit-image I  image with the CUDA toolkit (default nvidia/cuda:13.0.1-devel-ubuntu24.04)
#   --cuda-toolkit-dir D    the toolkit's directory in it (default /usr/local/cuda-13.0)
#   --tool podman|buildah|docker
#   --no-cache              rebuild every layer
set -euo pipefail

die() { echo "build-image.sh: $*" >&2; exit 1; }
repo=$(cd "$(dirname "$0")/../.." && pwd)

tag="" base="" runtime_base="" cuda=0 tool="" no_cache=()
toolkit_image=nvidia/cuda:13.0.1-devel-ubuntu24.04
toolkit_dir=/usr/local/cuda-13.0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --base) base=${2:?--base needs a value}; shift 2 ;;
    --runtime-base) runtime_base=${2:?--runtime-base needs a value}; shift 2 ;;
    --cuda) cuda=1; shift ;;
    --cuda-toolkit-image) toolkit_image=${2:?--cuda-toolkit-image needs a value}; shift 2 ;;
    --cuda-toolkit-dir) toolkit_dir=${2:?--cuda-toolkit-dir needs a value}; shift 2 ;;
    --tool) tool=${2:?--tool needs a value}; shift 2 ;;
    --no-cache) no_cache=(--no-cache); shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [[ -z "$tool" ]]; then
  for t in podman buildah docker; do
    command -v "$t" >/dev/null && { tool=$t; break; }
  done
  [[ -n "$tool" ]] || die "none of podman, buildah, docker found (apt-get install podman)"
fi
command -v "$tool" >/dev/null || die "--tool $tool: not found"
[[ -n "$tag" ]] || { [[ $cuda -eq 1 ]] && tag=psd:cuda || tag=psd:latest; }

args=(-f "$repo/deploy/docker/Dockerfile" -t "$tag" "${no_cache[@]}")
[[ -n "$base" ]] && args+=(--build-arg "BASE_IMAGE=$base")
[[ -z "$runtime_base" && -n "$base" ]] && runtime_base=$base
[[ -n "$runtime_base" ]] && args+=(--build-arg "RUNTIME_IMAGE=$runtime_base")
if [[ $cuda -eq 1 ]]; then
  args+=(--build-arg CUDA=1 --build-arg "CUDA_TOOLKIT_IMAGE=$toolkit_image"
    --build-arg "CUDA_TOOLKIT_DIR=$toolkit_dir")
fi
case "$tool" in
  podman) cmd=(podman build --network host "${args[@]}") ;;
  buildah) cmd=(buildah bud --network host --layers "${args[@]}") ;;
  docker) cmd=(docker build --network host "${args[@]}") ;;
  *) die "--tool must be podman, buildah or docker, got '$tool'" ;;
esac

echo "build-image.sh: ${cmd[*]} $repo" >&2
start=$SECONDS
"${cmd[@]}" "$repo" || die "the image build failed (see above)"
elapsed=$((SECONDS - start))
case "$tool" in
  docker) size=$(docker image inspect --format '{{.Size}}' "$tag") ;;
  *) size=$(podman image inspect --format '{{.Size}}' "$tag" 2>/dev/null ||
       buildah inspect --type image --format '{{.Size}}' "$tag" 2>/dev/null || echo "?") ;;
esac
if [[ "$size" =~ ^[0-9]+$ ]]; then size="$size bytes ($((size / 1024 / 1024)) MiB)"; fi
echo "build-image.sh: built $tag in ${elapsed}s; size $size"
