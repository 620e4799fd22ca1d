#!/usr/bin/env bash
# Runs in the image's build stage: copies the built binaries into OUT/bin, writes the Debian
# packages that own the shared libraries they load (from ldd) to OUT/runtime-packages.txt, and
# copies libraries no package owns (the CUDA runtime and cuBLAS of a toolkit under
# CUDA_PATH) into OUT/lib. The runtime stage installs that list and nothing else.
# Usage: collect-runtime.sh OUT BINARY...
set -euo pipefail

die() { echo "collect-runtime.sh: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: collect-runtime.sh OUT BINARY..."
out=$1
shift
mkdir -p "$out/bin" "$out/lib"

# Every library the binaries load: "soname path" lines, as ldd resolves them.
libs=$out/.libs
: >"$libs"
for binary in "$@"; do
  [[ -x "$binary" ]] || die "$binary: not an executable (did the build succeed?)"
  install -m 0755 "$binary" "$out/bin/"
  strip --strip-unneeded "$out/bin/$(basename "$binary")"
  # Lines look like "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)".
  while read -r soname arrow path _; do
    [[ "$arrow" == "=>" ]] || continue
    [[ "$path" == /* ]] || die "$binary: $soname not found by ldd"
    echo "$soname $path" >>"$libs"
  done < <(ldd "$binary")
done
sort -u -o "$libs" "$libs"

# The Debian package owning each library, from dpkg's file lists in one pass. usrmerge means
# ldd's /lib/... may be listed as /usr/lib/..., and alternatives (libopenblas.so.0) are links.
candidates() {
  local path=$1 real
  real=$(readlink -f "$path")
  printf '%s\n' "$path" "$real" "/usr$path" "/usr$real" "${path#/usr}" "${real#/usr}"
}
owners=$out/.owners
while read -r _ path; do candidates "$path"; done <"$libs" | sort -u >"$out/.candidates"
grep -HxF -f "$out/.candidates" /var/lib/dpkg/info/*.list >"$owners" || true

declare -A packages=()
while read -r soname path; do
  pkg=""
  while read -r candidate; do
    pkg=$(grep -F ":$candidate" "$owners" | awk -F: -v c="$candidate" '$NF == c {print $1; exit}' || true)
    [[ -n "$pkg" ]] && break
  done < <(candidates "$path")
  if [[ -n "$pkg" ]]; then
    pkg=$(basename "$pkg" .list)
    packages[${pkg%%:*}]=1
  else
    # Not Debian's: the CUDA toolkit's libraries (cudart, cuBLAS, cuBLASLt) travel along.
    cp -L "$path" "$out/lib/$soname"
  fi
done <"$libs"
rm -f "$libs" "$owners" "$out/.candidates"
printf '%s\n' "${!packages[@]}" | sort >"$out/runtime-packages.txt"
echo "collect-runtime.sh: $# binaries; Debian packages: $(tr '\n' ' ' <"$out/runtime-packages.txt")" >&2
if compgen -G "$out/lib/*" >/dev/null; then
  echo "collect-runtime.sh: bundled: $(cd "$out/lib" && echo *)" >&2
fi
