#!/usr/bin/env bash
# Installs the Debian packages psd builds and runs with; does nothing when all are present.
# Usage: deploy/local/install_deps.sh [extra-package ...]
set -euo pipefail

packages=(
  bazel-bootstrap bazel-rules-java bazel-platforms g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev libopenblas-dev
  libsqlite3-dev zlib1g-dev dataset-fashion-mnist iproute2 procps
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "psd: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "psd: need root or sudo to install packages" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
