#!/usr/bin/env bash
# Makes a Debian bookworm base image without a registry: debootstrap from this machine's Debian
# mirror, then `podman import`. Use it where `debian:bookworm` cannot be pulled; the Dockerfile
# takes the result as --build-arg BASE_IMAGE=<tag>.
# Usage: deploy/docker/make-base.sh [--tag TAG] [--mirror URL] [--work-dir DIR]
set -euo pipefail

tag=localhost/psd-debian-base:bookworm
mirror=""
work_dir=${TMPDIR:-/var/tmp}/psd-debootstrap

die() { echo "make-base.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --mirror) mirror=${2:?--mirror needs a value}; shift 2 ;;
    --work-dir) work_dir=${2:?--work-dir needs a value}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
command -v podman >/dev/null || die "podman not found: apt-get install podman"

# The first Debian archive this machine's apt uses (deb822 or one-line sources).
if [[ -z "$mirror" ]]; then
  mirror=$(grep -hE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2; exit}' || true)
  [[ -n "$mirror" ]] || mirror=$(grep -hE '^deb +[^ ]+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null |
    awk '{print $2; exit}' || true)
  [[ -n "$mirror" ]] || mirror=http://deb.debian.org/debian
fi
security=${mirror%/debian}/debian-security
[[ "$security" != "$mirror" ]] || security=http://deb.debian.org/debian-security

rootfs=$work_dir/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"
echo "make-base.sh: debootstrap bookworm from $mirror into $rootfs" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work_dir/debootstrap.log" 2>&1 ||
  die "debootstrap failed; the end of $work_dir/debootstrap.log:
$(tail -n 20 "$work_dir/debootstrap.log")"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
# What the official image does: keep images small, no cached package lists.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" --numeric-owner -c . |
  podman import -q --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
rm -rf "$rootfs"
echo "make-base.sh: imported $tag ($(podman image inspect --format '{{.Size}}' "$tag") bytes)"
