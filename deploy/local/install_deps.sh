#!/usr/bin/env bash
# Installs what psd builds and runs with: Debian packages (apt-get). With --tests, also the
# Debian packages only the tests use (clang-14 and its runtimes, for the fuzzers) and what the
# tests need from package registries: Node.js and npm (apt-get), and the npm packages of the
# Kubernetes manifest validator (npm ci of tests/deploy/validator/package-lock.json) into
# $PSD_TEST_DEPS (default /var/cache/psd/test-deps), which the tests then read offline: nothing
# inside `bazel test` reaches the network (docs/building.md, "Tests and the network").
# Idempotent and quick when everything is there: npm ci runs again only when the lock file changed.
# Registry clients run as the calling user, with that user's configuration and environment
# (proxy, CA certificates, registry mirror).
# Usage: deploy/local/install_deps.sh [--tests] [extra-package ...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

tests=0
if [[ ${1:-} == --tests ]]; then
  tests=1
  shift
fi

packages=(
  bazel-bootstrap bazel-rules-java bazel-platforms g++ pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev libopenblas-dev
  libsqlite3-dev zlib1g-dev prometheus-cpp-dev dataset-fashion-mnist iproute2 procps
  "$@"
)

sudo=()
as_root() {
  if [[ $(id -u) -ne 0 && ${#sudo[@]} -eq 0 ]]; then
    command -v sudo >/dev/null || { echo "psd: need root or sudo for: $*" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" "$@"
}

# What only the tests use (--tests): clang-14 with its sanitizer and libFuzzer runtimes for the
# fuzz targets (--config=fuzz; gcc's own sanitizers serve --config=asan and --config=tsan), and
# llvm-14 for llvm-symbolizer, which names the lines of a fuzzer's crash report; prometheus for
# promtool, which checks deploy/prometheus's scrape config (observability_files_test).
if [[ $tests -eq 1 ]]; then
  packages+=(clang-14 libclang-rt-14-dev llvm-14 prometheus)
fi

# Debian packages.
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ $tests -eq 1 ]]; then
  # By command, not by package: a Node.js from elsewhere (NodeSource ships npm inside its nodejs
  # package) does as well as Debian's.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "psd: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ $tests -eq 1 ]] || exit 0

# npm packages of the Kubernetes manifest validator (//tests/deploy:k8s_manifests_test), from its
# lock file. The stamp holds the hash of package.json + package-lock.json that was installed; the
# test compares it with its own copy of the lock file.
deps_dir=${PSD_TEST_DEPS:-/var/cache/psd/test-deps}
validator=$repo/tests/deploy/validator
dest=$deps_dir/npm/k8s-validator
want=$(cat "$validator/package.json" "$validator/package-lock.json" | sha256sum | cut -d' ' -f1)
if [[ -d "$dest/node_modules" && "$(cat "$dest/installed.sha256" 2>/dev/null)" == "$want" ]]; then
  exit 0
fi

# The directory belongs to the calling user, so that npm runs without root. The marker file
# tells .ci/run that the directory is psd's to remove.
if ! mkdir -p "$deps_dir/npm" 2>/dev/null || [[ ! -w "$deps_dir/npm" ]]; then
  as_root install -d -o "$(id -u)" -g "$(id -g)" "$deps_dir" "$deps_dir/npm"
fi
echo "registry packages for psd's tests (deploy/local/install_deps.sh --tests)" \
  >"$deps_dir/.psd-test-deps"
echo "psd: npm ci of tests/deploy/validator into $dest" >&2
new=$(mktemp -d "$deps_dir/npm/.k8s-validator.XXXXXX")
trap 'rm -rf "$new"' EXIT
cp "$validator/package.json" "$validator/package-lock.json" "$new/"
# psd's own npm cache, beside the packages: removing $PSD_TEST_DEPS removes all that psd fetched.
if ! npm ci --prefix "$new" --cache "$deps_dir/npm/cache" --no-audit --no-fund \
    --loglevel=error >"$new/npm.log" 2>&1; then
  cat "$new/npm.log" >&2
  echo "psd: npm ci of tests/deploy/validator failed (npm runs with your npm configuration and" \
    "environment: registry, proxy, NODE_EXTRA_CA_CERTS)" >&2
  exit 1
fi
rm -f "$new/npm.log"
echo "$want" >"$new/installed.sha256"
chmod 755 "$new"
rm -rf "$dest"
mv "$new" "$dest"
trap - EXIT
