#!/usr/bin/env bash
# The image entrypoint's datagen role (deploy/docker/entrypoint.sh), as the ctr overlay's
# initContainer runs it: with PSD_DATAGEN_ONCE=1 a second run with the same arguments leaves
# the files alone, other arguments or an interrupted run (no record) generate again, a failed
# run leaves no record; without it every run generates. Runs psd-datagen on small sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testlib.sh
source "$here/testlib.sh"

repo=$(repo_root)
work=$(scratch_dir)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$repo/tools/psd-datagen" "$work/bin/psd-datagen"
entrypoint=$repo/deploy/docker/entrypoint.sh
out=$work/data/ctr
args=(ctr "--out=$out" --train_rows=2000 --test_rows=200 --train_files=2 --gzip --threads=1)

# datagen ENV... -- ARGS...: runs the entrypoint's datagen role; output in $work/run.out.
datagen() {
  local env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  env PATH="$work/bin:$PATH" "${env[@]}" bash "$entrypoint" datagen "$@" >"$work/run.out" 2>&1
}
files() { (cd "$out" && sha256sum train-00000-of-00002.txt.gz train-00001-of-00002.txt.gz test.txt.gz); }
mtimes() { stat -c '%n %Y.%y' "$out"/*.gz; }

if bash "$entrypoint" --help | grep -q "^  datagen "; then
  pass "--help lists the datagen role"
else
  fail "--help lists the datagen role" "$(bash "$entrypoint" --help)"
fi

if datagen PSD_DATAGEN_ONCE=1 -- "${args[@]}" && [[ -f "$out/.psd-datagen-args" ]] &&
   grep -q "bayes-optimal test auc" "$work/run.out"; then
  pass "first run generates and records its arguments"
else
  fail "first run" "$(cat "$work/run.out")"
fi
first=$(files)
stamp=$(mtimes)

sleep 1.1  # a file written again would get a later mtime
if datagen PSD_DATAGEN_ONCE=1 -- "${args[@]}" && grep -q "not generating it again" "$work/run.out" &&
   [[ "$(mtimes)" == "$stamp" ]]; then
  pass "same arguments again: skipped, nothing written"
else
  fail "same arguments again" "$(cat "$work/run.out")"
fi

if datagen PSD_DATAGEN_ONCE=1 -- "${args[@]}" --seed=2 && grep -q "bayes-optimal" "$work/run.out" &&
   [[ "$(files)" != "$first" ]]; then
  pass "other arguments (--seed=2): generated again"
else
  fail "other arguments" "$(cat "$work/run.out")"
fi

rm -f "$out/.psd-datagen-args"  # as after a run that was killed before it ended
if datagen PSD_DATAGEN_ONCE=1 -- "${args[@]}" && grep -q "bayes-optimal" "$work/run.out" &&
   [[ "$(files)" == "$first" ]]; then
  pass "no record (an interrupted run): generated again, the same bytes as the first run"
else
  fail "no record" "$(cat "$work/run.out")"
fi

stamp=$(mtimes)
sleep 1.1
if datagen -- "${args[@]}" && grep -q "bayes-optimal" "$work/run.out" && [[ "$(mtimes)" != "$stamp" ]]; then
  pass "without PSD_DATAGEN_ONCE: every run generates"
else
  fail "without PSD_DATAGEN_ONCE" "$(cat "$work/run.out")"
fi

rc=0
datagen PSD_DATAGEN_ONCE=1 -- ctr "--out=$out" --train_rows=-5 || rc=$?
if [[ $rc -ne 0 && ! -f "$out/.psd-datagen-args" ]]; then
  pass "a failed run (exit $rc) leaves no record: $(head -n 1 "$work/run.out")"
else
  fail "a failed run" "exit $rc, record: $(ls -a "$out")"
fi

summary
