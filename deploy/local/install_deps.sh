#!/usr/bin/env bash
# Installs what psd builds and runs with: Debian packages (apt-get), Node.js and npm (apt-get, if
# missing), and the chart library of the coordinator's web console (npm ci of
# coordinator/console/npm/package-lock.json: uPlot) into $PSD_CONSOLE_DEPS/uplot (default
# /var/cache/psd/console), where psd-coordinator's --console_assets_dir looks by default; the
# coordinator never fetches anything at run time. With --tests, also the Debian packages only the
# tests use (clang-14 and its runtimes, for the fuzzers; chromium, for the console test) and what
# the tests need from package registries: the npm packages of the Kubernetes manifest validator
# (tests/deploy/validator) and of the console test (tests/console: puppeteer-core) into
# $PSD_TEST_DEPS (default /var/cache/psd/test-deps), which the tests then read offline: nothing
# inside `bazel test` reaches the network (docs/building.md, "Tests and the network").
# Idempotent and quick when everything is there: npm ci runs again only when a lock file changed.
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
  libsimgrid-dev
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
# promtool, which checks deploy/prometheus's scrape config (observability_files_test); chromium,
# the headless browser that //tests:console_test drives (puppeteer-core never downloads one).
if [[ $tests -eq 1 ]]; then
  packages+=(clang-14 libclang-rt-14-dev llvm-14 prometheus chromium)
fi

# Debian packages.
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# The console's uPlot needs npm: in a checkout, not where this script was copied alone (the
# container image's build stage installs only Debian packages with it).
console_lock=$repo/coordinator/console/npm/package-lock.json
console=0
[[ -f "$console_lock" ]] && console=1
# By command, not by package: a Node.js from elsewhere (NodeSource ships npm inside its nodejs
# package) does as well as Debian's.
if [[ $console -eq 1 || $tests -eq 1 ]]; then
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "psd: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm_ci NAME SRC DEST: npm ci of SRC/package-lock.json into DEST (DEST/node_modules), unless
# DEST/installed.sha256 already holds the hash of SRC's package.json + package-lock.json (the
# tests compare it with their own copy of the lock file). Installs into a temporary directory
# beside DEST first, so that DEST is always a complete installation. psd's own npm cache sits in
# DEST's parent: removing that directory removes all that psd fetched.
npm_ci() {
  local name=$1 src=$2 dest=$3 want parent new
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -d "$dest/node_modules" && "$(cat "$dest/installed.sha256" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  parent=$(dirname "$dest")
  # The directory belongs to the calling user, so that npm runs without root.
  if ! mkdir -p "$parent" 2>/dev/null || [[ ! -w "$parent" ]]; then
    as_root install -d -o "$(id -u)" -g "$(id -g)" "$parent"
  fi
  echo "psd: npm ci of ${src#"$repo"/} into $dest" >&2
  new=$(mktemp -d "$parent/.$name.XXXXXX")
  # shellcheck disable=SC2064  # expand now: the trap must remove this directory
  trap "rm -rf '$new'" EXIT
  cp "$src/package.json" "$src/package-lock.json" "$new/"
  if ! npm ci --prefix "$new" --cache "$parent/cache" --no-audit --no-fund \
      --loglevel=error >"$new/npm.log" 2>&1; then
    cat "$new/npm.log" >&2
    echo "psd: npm ci of ${src#"$repo"/} failed (npm runs with your npm configuration and" \
      "environment: registry, proxy, NODE_EXTRA_CA_CERTS)" >&2
    exit 1
  fi
  rm -f "$new/npm.log"
  echo "$want" >"$new/installed.sha256"
  chmod 755 "$new"
  rm -rf "$dest"
  mv "$new" "$dest"
  trap - EXIT
}

# The console's uPlot (psd-coordinator --console_assets_dir, default
# /var/cache/psd/console/uplot/node_modules/uplot/dist).
if [[ $console -eq 1 ]]; then
  console_dir=${PSD_CONSOLE_DEPS:-/var/cache/psd/console}
  npm_ci console "$repo/coordinator/console/npm" "$console_dir/uplot"
  # The marker file tells .ci/run that the directory is psd's to remove.
  echo "the web console's chart library (deploy/local/install_deps.sh)" \
    >"$console_dir/.psd-console-deps"
fi
[[ $tests -eq 1 ]] || exit 0

# npm packages of the tests, from their lock files: the Kubernetes manifest validator
# (//tests/deploy:k8s_manifests_test) and the console's browser driver (//tests:console_test).
deps_dir=${PSD_TEST_DEPS:-/var/cache/psd/test-deps}
if ! mkdir -p "$deps_dir/npm" 2>/dev/null || [[ ! -w "$deps_dir/npm" ]]; then
  as_root install -d -o "$(id -u)" -g "$(id -g)" "$deps_dir" "$deps_dir/npm"
fi
# The marker file tells .ci/run that the directory is psd's to remove.
echo "registry packages for psd's tests (deploy/local/install_deps.sh --tests)" \
  >"$deps_dir/.psd-test-deps"
npm_ci k8s-validator "$repo/tests/deploy/validator" "$deps_dir/npm/k8s-validator"
npm_ci console-test "$repo/tests/console" "$deps_dir/npm/console-test"
