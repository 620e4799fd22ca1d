#!/usr/bin/env bash
# Renders every kustomization in deploy/k8s (base, overlays/cpu, overlays/gpu, overlays/ctr)
# with `kubectl kustomize` and checks each rendering three ways:
#   schema   the Kubernetes object schemas (types, enums, unknown fields): validator/validate-schema.mjs
#   project  references, ports, labels, replica counts, data files, checkpoint volumes and the
#            data generator vs the job spec: validator/check-project.mjs
#   jobspec  psd's own job-spec loader accepts the embedded job spec, and the servers' and the
#            coordinator's memory budgets (from check-project) admit it: jobspec_check
# Then plants known mistakes (validator/mutate.mjs) in the cpu or the ctr rendering and expects
# each to be reported.
# The validator's npm packages are read offline from $PSD_TEST_DEPS/npm/k8s-validator (default
# /var/cache/psd/test-deps), where `deploy/local/install_deps.sh --tests` (run by tests/run.sh)
# installs them from validator/package-lock.json. The test never fetches: tests run with the
# network denied.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testlib.sh
source "$here/testlib.sh"

repo=$(repo_root)
work=$(scratch_dir)
trap 'rm -rf "$work"' EXIT
jobspec_check=${JOBSPEC_CHECK:-$repo/tests/deploy/jobspec_check}

if ! command -v kubectl >/dev/null; then
  skip k8s_manifests "kubectl not found (it renders the kustomizations offline: kubectl kustomize)"
  summary; exit
fi
install_hint="run deploy/local/install_deps.sh --tests (tests/run.sh does)"
if ! command -v node >/dev/null; then
  fail k8s_manifests "node not found: $install_hint"
  summary; exit
fi

# The validator, with the packages install_deps.sh installed from the same lock file.
deps=${PSD_TEST_DEPS:-/var/cache/psd/test-deps}/npm/k8s-validator
want=$(cat "$repo"/tests/deploy/validator/{package.json,package-lock.json} | sha256sum | cut -d' ' -f1)
if [[ ! -d "$deps/node_modules" ]]; then
  fail "validator packages" "not installed in $deps: $install_hint"
  summary; exit
fi
if [[ "$(cat "$deps/installed.sha256" 2>/dev/null)" != "$want" ]]; then
  fail "validator packages" "$deps holds packages of another package-lock.json: $install_hint"
  summary; exit
fi
pass "validator packages (package-lock.json) installed in $deps"
mkdir -p "$work/validator"
cp "$repo"/tests/deploy/validator/*.mjs "$work/validator/"
ln -s "$deps/node_modules" "$work/validator/node_modules"

# Copies of the manifests (runfiles are symlinks, which kustomize's load restrictions refuse),
# with the certificates their Secrets are generated from, made as a user makes them.
cp -rL "$repo/deploy/k8s" "$work/k8s"
rm -rf "$work/k8s/base/tls"
if "$repo/deploy/k8s/tls.sh" --dir "$work/k8s/base/tls" >"$work/tls.out" 2>&1; then
  pass "certificates for the Secrets (deploy/k8s/tls.sh)"
else
  fail "certificates for the Secrets" "$(cat "$work/tls.out")"
fi

# validate NAME FILE [yes|no]: the three checks of one rendering (the last argument: whether
# workers must ask for GPUs); writes their output to NAME.out.
validate() {
  local name=$1 file=$2 rc=0
  local gpu=()
  [[ $# -ge 3 ]] && gpu=(--gpu="$3")
  {
    timeout 120 node "$work/validator/validate-schema.mjs" "$file" || rc=1
    timeout 120 node "$work/validator/check-project.mjs" "${gpu[@]}" \
      --job-spec-out "$work/$name.job.yaml" --budgets-out "$work/$name.budgets" "$file" || rc=1
    if [[ -s "$work/$name.job.yaml" ]]; then
      local budgets=()
      [[ -f "$work/$name.budgets" ]] && mapfile -t budgets <"$work/$name.budgets"
      timeout 60 "$jobspec_check" "$work/$name.job.yaml" "${budgets[@]}" 2>&1 || rc=1
    else
      echo "jobspec: no job spec found in the manifests"; rc=1
    fi
  } >"$work/$name.out" 2>&1
  return $rc
}

for target in base overlays/cpu overlays/gpu overlays/ctr; do
  name=${target#overlays/}
  gpu=()
  case "$name" in cpu | ctr) gpu=(no) ;; gpu) gpu=(yes) ;; esac
  if ! timeout 60 kubectl kustomize "$work/k8s/$target" >"$work/$name.yaml" 2>"$work/$name.err"; then
    fail "render $target" "$(head -n 5 "$work/$name.err")"
    continue
  fi
  pass "render $target"
  if validate "$name" "$work/$name.yaml" "${gpu[@]}"; then
    pass "validate $target: $(grep -E '^(schema|project|ok):' "$work/$name.out" | tr '\n' ' ')"
  else
    fail "validate $target" "$(cat "$work/$name.out")"
  fi
done

# Planted mistakes: each must make the checks fail with the expected message. Each names the
# rendering it is planted in (cpu, or ctr for the sparse job's own checks).
while IFS=$'\t' read -r mutation target expect what; do
  mutated="$work/mutated-$mutation.yaml"
  if [[ ! -s "$work/$target.yaml" ]]; then
    fail "planted $mutation" "no rendering of $target to plant it in"
    continue
  fi
  if ! node "$work/validator/mutate.mjs" "$mutation" "$work/$target.yaml" "$mutated" 2>"$work/mutate.err"; then
    fail "planted $mutation" "cannot plant it: $(cat "$work/mutate.err")"
    continue
  fi
  if validate "mutated-$mutation" "$mutated" no; then
    fail "planted $mutation ($what)" "the checks passed"
  elif grep -qF -- "$expect" "$work/mutated-$mutation.out"; then
    pass "planted $mutation ($what): $(grep -F -- "$expect" "$work/mutated-$mutation.out" | head -n 1 | sed "s|$work/||")"
  else
    fail "planted $mutation ($what)" "expected '$expect' in: $(cat "$work/mutated-$mutation.out")"
  fi
done < <(node "$work/validator/mutate.mjs" --list)

summary
