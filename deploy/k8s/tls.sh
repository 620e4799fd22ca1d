#!/usr/bin/env bash
# The certificates of psd on Kubernetes: runs deploy/local/certs.sh into deploy/k8s/base/tls
# (or --dir D), where base/kustomization.yaml's secretGenerator makes one Secret per role
# (psd-tls-coordinator, -server, -worker, -admin) in the layout cert-manager writes: ca.crt,
# tls.crt, tls.key. Idempotent; `--renew` issues them again (rotation: apply again, and the
# Secrets' new names roll the pods one at a time). See docs/deploy.md and docs/security.md.
# The keys stay out of git (.gitignore): make them where you run `kubectl apply -k`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/base/tls
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --renew|--rotate-ca|--drop-previous-ca) extra+=("$1"); shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "tls.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
# One certificate per role: Secrets are shared by a role's pods (docs/security.md says what
# that means for per-rank checks, and how cert-manager's CSI driver gives each pod its own).
"$here/../local/certs.sh" --dir "$dir" "${extra[@]}" \
  coordinator:coordinator server:server worker:worker admin:admin viewer:viewer
