#!/usr/bin/env bash
# The image's entrypoint: the first argument is the role, the rest are that program's flags.
#   coordinator|server|worker|psdctl [FLAGS...]
# Environment:
#   PSD_EXIT_AFTER_JOB=1          worker: exit 0 once the first job it works on has ended
#                                 (Kubernetes: the worker Job completes, the GPU is freed)
#   PSD_WAIT_FOR_COORDINATOR=S    psdctl: first wait up to S seconds for the coordinator to answer
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: psd ROLE [FLAGS...]
roles:
  coordinator   psd-coordinator (membership, job queue; needs --state_dir)
  server        psd-server (parameter shards)
  worker        psd-worker (training)
  psdctl        the command line (validate, submit, status, list, wait, ...)
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
  -h|--help|help) usage ;;
  *) usage >&2; die "unknown role '$role' (coordinator, server, worker, psdctl)" ;;
esac
