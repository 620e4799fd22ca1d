#!/usr/bin/env bash
# The image's entrypoint: the first argument is the role, the rest are that program's flags.
#   coordinator|server|worker|psdctl|datagen [FLAGS...]
# Environment:
#   PSD_EXIT_AFTER_JOB=1          worker: exit 0 once the first job it works on has ended
#                                 (Kubernetes: the worker Job completes, the GPU is freed)
#   PSD_WAIT_FOR_COORDINATOR=S    psdctl: first wait up to S seconds for the coordinator to answer
#   PSD_DATAGEN_ONCE=1            datagen: do nothing when --out already holds what the same
#                                 arguments wrote (OUT/.psd-datagen-args, written last)
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: psd ROLE [FLAGS...]
roles:
  coordinator   psd-coordinator (membership, job queue; needs --state_dir)
  server        psd-server (parameter shards)
  worker        psd-worker (training)
  psdctl        the command line (validate, submit, status, list, wait, ...)
  datagen       psd-datagen (generated data sets: `datagen ctr --out DIR ...`)
`psd ROLE --help` shows that program's flags.
USAGE
}

die() { echo "psd-entrypoint: $*" >&2; exit 2; }

# Waits until `psdctl list` reaches the coordinator (exit 3 means unreachable).
wait_for_coordinator() {
  local seconds=$1 deadline rc
  shift
  [[ "$seconds" =~ ^[0-9]+$ ]] || die "PSD_WAIT_FOR_COORDINATOR must be a number of seconds, got '$seconds'"
  deadline=$((SECONDS + seconds))
  while true; do
    rc=0
    psdctl "$@" list >/dev/null 2>&1 || rc=$?
    [[ $rc -ne 3 ]] && return 0
    if [[ $SECONDS -ge $deadline ]]; then
      echo "psd-entrypoint: the coordinator did not answer within $seconds s" >&2
      exit 3
    fi
    sleep 2
  done
}

# psdctl flags that say where the coordinator is and how to talk to it (TLS), for the wait
# above.
coordinator_flags() {
  local arg next=""
  for arg in "$@"; do
    if [[ -n $next ]]; then printf '%s\n' "$next=$arg"; next=""; continue; fi
    case "$arg" in
      --coordinator=*|--tls-ca=*|--tls-cert=*|--tls-key=*|--insecure) printf '%s\n' "$arg" ;;
      --coordinator|--tls-ca|--tls-cert|--tls-key) next=$arg ;;
    esac
  done
}

# psd-datagen with PSD_DATAGEN_ONCE=1: runs it unless its --out directory holds the record of
# a finished run with the same arguments. The same arguments write the same bytes, so a second
# run would only rewrite the files (perhaps under the readers of a running job). The record is
# removed first and written after a run that succeeded, so an interrupted run is redone.
datagen_once() {
  local out="" next="" arg record
  for arg in "$@"; do
    if [[ -n $next ]]; then out=$arg; next=""; continue; fi
    case "$arg" in
      --out=*) out=${arg#--out=} ;;
      --out) next=1 ;;
    esac
  done
  [[ -n "$out" ]] || exec psd-datagen "$@"   # no --out: psd-datagen says what is wrong
  record=$out/.psd-datagen-args
  if [[ -f "$record" ]] && [[ "$(cat "$record")" == "$(printf '%s\n' "$@")" ]]; then
    echo "psd-entrypoint: $out already holds the output of psd-datagen $* ($record); not generating it again"
    [[ -f "$out/ground_truth.json" ]] && cat "$out/ground_truth.json"
    exit 0
  fi
  mkdir -p "$out"
  rm -f "$record"
  psd-datagen "$@"
  printf '%s\n' "$@" >"$record.tmp"
  mv -f "$record.tmp" "$record"
}

[[ $# -ge 1 ]] || { usage >&2; exit 2; }
role=$1
shift
case "$role" in
  coordinator) exec psd-coordinator "$@" ;;
  server) exec psd-server "$@" ;;
  worker)
    if [[ "${PSD_EXIT_AFTER_JOB:-0}" == 1 ]]; then
      exec psd-worker --exit_after_job "$@"
    fi
    exec psd-worker "$@" ;;
  psdctl)
    if [[ -n "${PSD_WAIT_FOR_COORDINATOR:-}" ]]; then
      mapfile -t where < <(coordinator_flags "$@")
      wait_for_coordinator "$PSD_WAIT_FOR_COORDINATOR" "${where[@]}"
    fi
    exec psdctl "$@" ;;
  datagen)
    if [[ "${PSD_DATAGEN_ONCE:-0}" == 1 ]]; then
      datagen_once "$@"
      exit 0
    fi
    exec psd-datagen "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; die "unknown role '$role' (coordinator, server, worker, psdctl, datagen)" ;;
esac
