#!/usr/bin/env bash
# A local psd cluster: one coordinator, N servers and M workers in the background, with logs,
# pid files and the command line of each daemon under the run directory. Mutual TLS by default:
# `up` makes the certificates (deploy/local/certs.sh) in RUN_DIR/certs.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/local/cluster.sh COMMAND [options]

commands:
  up --servers N --workers M [--base-port P] [--threads T]
                      start the daemons; returns once all have registered
  down                stop exactly the daemons `up` started (SIGTERM, then SIGKILL)
  status              each daemon's pid and state, and the coordinator's node list
  logs ROLE RANK [-f] a daemon's log (ROLE: coordinator, server, worker; RANK 0.. or -)
  kill ROLE RANK      SIGKILL one daemon (for failure drills)
  restart ROLE RANK   start that daemon again with the same identity and flags

options:
  --run-dir D     where logs, pid files and state live (default: $PSD_RUN_DIR, else .run/cluster)
  --base-port P   coordinator on P, server i on P+1+i, worker j on P+1+N+j (default 7070);
                  0 lets every daemon pick a free port (the coordinator's address is then in
                  RUN_DIR/coordinator.addr)
  --threads T     BLAS threads per worker (default: cores / workers, at least 1)
  --bin-dir B     where psd-coordinator, psd-server, psd-worker and psdctl are (default:
                  $PSD_BIN_DIR, else bazel-bin of this repository, else $PATH)
  --heartbeat-timeout-ms T   the coordinator's heartbeat timeout (default 3000)
  --exit-with PID   (up) take the cluster down when process PID exits (tests use this)
  --slow-worker RANK:FACTOR  (up) make worker RANK a straggler: each step takes FACTOR times
                  as long (repeatable; for drills and benchmarks)
  --slow-server RANK:MS  (up) make server RANK slow: each push waits MS milliseconds before
                  it is applied, as on an overloaded host (repeatable; drills)
  --coordinator-flag F, --server-flag F, --worker-flag F
                  (up) pass flag F (e.g. --log_level=debug) to the coordinator, every server or
                  every worker (repeatable)
  --insecure      (up) plaintext, no certificates: gives up authentication AND authorisation
                  (every daemon logs a warning); for development only
  --metrics-base-port P  (up) Prometheus metrics of the coordinator on P, server i on P+1+i,
                  worker j on P+1+N+j, on 127.0.0.1 (default 0: a free port each; -1: no
                  metrics). `up` prints them and writes RUN_DIR/prometheus-targets.json, which
                  deploy/prometheus/prometheus.yml reads (docs/observability.md)
  --console-port P  (up) the coordinator's web console (read-only, plaintext) on 127.0.0.1:P
                  (default 0: a free port; -1: no console). `up` prints its URL and writes the
                  port to RUN_DIR/console.port. uPlot comes from $PSD_CONSOLE_DEPS when set
                  (deploy/local/install_deps.sh installs it; docs/observability.md, "Web console")

TLS: `up` runs certs.sh into RUN_DIR/certs (a CA; coordinator, server-I, worker-J, admin and
viewer certificates; kept across runs) and gives each daemon its own. psdctl finds the admin
certificate there by itself when PSD_RUN_DIR is set or it runs from the repository root with
the default run directory; `up` prints the export lines otherwise.
EOF
}

die() { echo "cluster.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
run_dir=${PSD_RUN_DIR:-$repo/.run/cluster}
bin_dir=${PSD_BIN_DIR:-}
servers="" workers="" base_port=7070 threads="" heartbeat_timeout_ms=3000 follow=0 exit_with=""
insecure=0 metrics_base_port=0 console_port=0
declare -A slowdown=() push_delay=()
coordinator_flags=() server_flags=() worker_flags=()
args=()
[[ $# -gt 0 ]] || { usage >&2; exit 2; }
command=$1
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --servers) servers=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    --base-port) base_port=${2:?}; shift 2 ;;
    --run-dir) run_dir=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --bin-dir) bin_dir=${2:?}; shift 2 ;;
    --heartbeat-timeout-ms) heartbeat_timeout_ms=${2:?}; shift 2 ;;
    --exit-with) exit_with=${2:?}; shift 2 ;;
    --coordinator-flag) coordinator_flags+=("${2:?}"); shift 2 ;;
    --server-flag) server_flags+=("${2:?}"); shift 2 ;;
    --worker-flag) worker_flags+=("${2:?}"); shift 2 ;;
    --insecure) insecure=1; shift ;;
    --metrics-base-port) metrics_base_port=${2:?}; shift 2 ;;
    --console-port) console_port=${2:?}; shift 2 ;;
    --slow-worker)
      [[ "${2:-}" =~ ^([0-9]+):([0-9.]+)$ ]] || die "--slow-worker: expected RANK:FACTOR, got '${2:-}'"
      slowdown[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
      shift 2 ;;
    --slow-server)
      [[ "${2:-}" =~ ^([0-9]+):([0-9]+)$ ]] || die "--slow-server: expected RANK:MS, got '${2:-}'"
      push_delay[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
      shift 2 ;;
    -f|--follow) follow=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done

binary() {
  local name=$1 sub=$2
  if [[ -n "$bin_dir" ]]; then
    echo "$bin_dir/$name"
  elif [[ -x "$repo/bazel-bin/$sub/$name" ]]; then
    echo "$repo/bazel-bin/$sub/$name"
  else
    command -v "$name" || die "$name not found: build with 'bazel build //...' or pass --bin-dir"
  fi
}

# Daemon names are ROLE-RANK, e.g. server-0; the coordinator is "coordinator".
name_of() { [[ $1 == coordinator ]] && echo coordinator || echo "$1-${2:?RANK is required}"; }
pid_file() { echo "$run_dir/pids/$1.pid"; }

# The pid in NAME's pid file if that process is alive and is still one of ours.
live_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "--port_file=$run_dir/ports/$1" || return 1
  echo "$pid"
}

# Starts the daemon whose command line is saved in cmds/NAME.
launch() {
  local name=$1
  local -a cmd
  mapfile -t cmd <"$run_dir/cmds/$name"
  rm -f "$run_dir/ports/$name"
  setsid "${cmd[@]}" </dev/null >>"$run_dir/logs/$name.log" 2>&1 &
  echo $! >"$(pid_file "$name")"
}

# Saves NAME's command line (one argument per line) and starts it.
start_daemon() {
  local name=$1
  shift
  printf '%s\n' "$@" >"$run_dir/cmds/$name"
  launch "$name"
}

# Once NAME has bound a port, a restart must reuse it: peers know the daemon by its address.
pin_port() {
  local name=$1
  wait_for_port "$name"
  sed -i "s/^--port=0\$/--port=$(<"$run_dir/ports/$name")/" "$run_dir/cmds/$name"
}

coordinator_addr() {
  [[ -f "$run_dir/coordinator.addr" ]] || die "no cluster in $run_dir"
  cat "$run_dir/coordinator.addr"
}

# Whether the process just launched as NAME still runs (not gone, not a zombie). Unlike
# live_pid it does not look for NAME's command line, which the forked shell has until it execs
# the daemon: right after launch, that window made a live daemon look dead (a flaky start).
started() {
  local pid state
  pid=$(<"$(pid_file "$1")") || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Waits until daemon NAME has written its port file; fails early if it exits.
wait_for_port() {
  local name=$1 deadline=$((SECONDS + 30))
  until [[ -s "$run_dir/ports/$name" ]]; do
    started "$name" || die "$name exited during start-up; the end of its log:
$(tail -n 20 "$run_dir/logs/$name.log")"
    [[ $SECONDS -lt $deadline ]] || die "$name did not start in 30 s (see $run_dir/logs/$name.log)"
    sleep 0.1
  done
}

port_for() {
  [[ "$base_port" == 0 ]] && echo 0 || echo $((base_port + $1))
}

certs_dir() { echo "$run_dir/certs"; }

# The TLS flags of daemon NAME (its own certificate), or --insecure.
tls_flags() {
  if [[ -f "$run_dir/insecure" ]]; then
    echo "--insecure"
    return
  fi
  local d
  d=$(certs_dir)
  printf '%s\n' "--tls_ca=$d/ca-bundle.crt" "--tls_cert=$d/$1.crt" "--tls_key=$d/$1.key"
}

# psdctl's TLS flags: the admin certificate, or --insecure.
psdctl_tls() {
  if [[ -f "$run_dir/insecure" ]]; then
    echo "--insecure"
    return
  fi
  local d
  d=$(certs_dir)
  printf '%s\n' "--tls-ca=$d/ca-bundle.crt" "--tls-cert=$d/admin.crt" "--tls-key=$d/admin.key"
}

# Runs psdctl against the cluster as its admin.
psdctl_admin() {
  local -a tls
  mapfile -t tls < <(psdctl_tls)
  "$(binary psdctl tools)" --coordinator="$(coordinator_addr)" "${tls[@]}" "$@"
}

# A TCP port nobody listens on now (ss, from iproute2), for a daemon's --metrics_port.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]] && ! grep -qx "$p" "$run_dir/metrics"/* "$run_dir/console.port" 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found for metrics"
}

# --metrics_port flags for daemon NAME with offset OFFSET; records the port in RUN_DIR/metrics.
metrics_flags() {
  [[ "$metrics_base_port" == -1 ]] && return 0
  local port
  if [[ "$metrics_base_port" == 0 ]]; then port=$(free_port); else port=$((metrics_base_port + $2)); fi
  echo "$port" >"$run_dir/metrics/$1"
  printf '%s\n' "--metrics_port=$port" "--metrics_address=127.0.0.1"
}

# The coordinator's --http_port flags (the web console); records the port in RUN_DIR/console.port.
console_flags() {
  [[ "$console_port" == -1 ]] && return 0
  local port=$console_port
  [[ "$port" == 0 ]] && port=$(free_port)
  echo "$port" >"$run_dir/console.port"
  printf '%s\n' "--http_port=$port" "--http_address=127.0.0.1"
  if [[ -n "${PSD_CONSOLE_DEPS:-}" ]]; then
    echo "--console_assets_dir=$PSD_CONSOLE_DEPS/uplot/node_modules/uplot/dist"
  fi
}

# RUN_DIR/prometheus-targets.json: Prometheus file_sd targets, one per daemon, labelled with
# its role and name.
write_prometheus_targets() {
  local f name role sep=""
  {
    echo "["
    for f in "$run_dir"/metrics/*; do
      [[ -e "$f" ]] || continue
      name=$(basename "$f")
      role=${name%%-*}
      printf '%s  {"targets": ["127.0.0.1:%s"], "labels": {"psd_role": "%s", "psd_node": "%s"}}' \
        "$sep" "$(<"$f")" "$role" "$name"
      sep=$',\n'
    done
    printf '\n]\n'
  } >"$run_dir/prometheus-targets.json"
}

cmd_up() {
  [[ "$servers" =~ ^[1-9][0-9]*$ ]] || die "up: --servers N is required (N >= 1)"
  [[ "$workers" =~ ^[1-9][0-9]*$ ]] || die "up: --workers M is required (M >= 1)"
  [[ "$base_port" =~ ^[0-9]+$ ]] || die "up: --base-port must be a number, got '$base_port'"
  [[ "$metrics_base_port" =~ ^(-1|[0-9]+)$ ]] ||
    die "up: --metrics-base-port must be a number or -1, got '$metrics_base_port'"
  [[ "$console_port" =~ ^(-1|[0-9]+)$ ]] ||
    die "up: --console-port must be a number or -1, got '$console_port'"
  if [[ -d "$run_dir/pids" ]]; then
    for f in "$run_dir"/pids/*.pid; do
      [[ -e "$f" ]] || continue
      if live_pid "$(basename "$f" .pid)" >/dev/null; then
        die "a cluster is already running in $run_dir (run 'cluster.sh down' first)"
      fi
    done
  fi
  if [[ -z "$threads" ]]; then
    threads=$(($(nproc) / workers))
    [[ $threads -ge 1 ]] || threads=1
  fi
  local coordinator server worker
  coordinator=$(binary psd-coordinator coordinator)
  server=$(binary psd-server server)
  worker=$(binary psd-worker worker)
  binary psdctl tools >/dev/null  # fails early when it is missing
  rm -rf "$run_dir/pids" "$run_dir/cmds" "$run_dir/ports" "$run_dir/coordinator.addr" \
    "$run_dir/insecure" "$run_dir/metrics" "$run_dir/prometheus-targets.json" \
    "$run_dir/console.port"
  mkdir -p "$run_dir"/{pids,cmds,logs,ports,ids,state,metrics}
  local -a tls
  local i
  if [[ $insecure -eq 1 ]]; then
    touch "$run_dir/insecure"
    echo "cluster.sh: --insecure: plaintext, no authentication, no authorisation" >&2
  else
    local -a names=(coordinator:coordinator admin:admin viewer:viewer)
    for ((i = 0; i < servers; i++)); do names+=("server-$i:server"); done
    for ((i = 0; i < workers; i++)); do names+=("worker-$i:worker"); done
    "$repo/deploy/local/certs.sh" --dir "$(certs_dir)" "${names[@]}" >/dev/null ||
      die "certs.sh could not make the certificates in $(certs_dir)"
  fi

  local -a metrics console
  mapfile -t tls < <(tls_flags coordinator)
  mapfile -t metrics < <(metrics_flags coordinator 0)
  mapfile -t console < <(console_flags)
  start_daemon coordinator "$coordinator" --bind=127.0.0.1 --port="$(port_for 0)" \
    --port_file="$run_dir/ports/coordinator" --state_dir="$run_dir/state" \
    --heartbeat_timeout_ms="$heartbeat_timeout_ms" "${tls[@]}" "${metrics[@]}" \
    "${console[@]}" "${coordinator_flags[@]}"
  pin_port coordinator
  local addr="127.0.0.1:$(<"$run_dir/ports/coordinator")"
  echo "$addr" >"$run_dir/coordinator.addr"

  local i f
  for ((i = 0; i < servers; i++)); do
    mapfile -t tls < <(tls_flags "server-$i")
    mapfile -t metrics < <(metrics_flags "server-$i" $((1 + i)))
    start_daemon "server-$i" "$server" --coordinator="$addr" --bind=127.0.0.1 \
      --advertise_host=127.0.0.1 --port="$(port_for $((1 + i)))" \
      --port_file="$run_dir/ports/server-$i" --node_id_file="$run_dir/ids/server-$i" \
      --preferred_rank="$i" --debug_push_delay_ms="${push_delay[$i]:-0}" "${tls[@]}" \
      "${metrics[@]}" "${server_flags[@]}"
  done
  for ((i = 0; i < workers; i++)); do
    mapfile -t tls < <(tls_flags "worker-$i")
    mapfile -t metrics < <(metrics_flags "worker-$i" $((1 + servers + i)))
    start_daemon "worker-$i" "$worker" --coordinator="$addr" --bind=127.0.0.1 \
      --advertise_host=127.0.0.1 --port="$(port_for $((1 + servers + i)))" \
      --port_file="$run_dir/ports/worker-$i" --node_id_file="$run_dir/ids/worker-$i" \
      --preferred_rank="$i" --threads="$threads" --slowdown="${slowdown[$i]:-1}" "${tls[@]}" \
      "${metrics[@]}" "${worker_flags[@]}"
  done

  for f in "$run_dir"/cmds/*; do pin_port "$(basename "$f")"; done

  # Registered means: listed by the coordinator and not dead.
  local deadline=$((SECONDS + 60)) listed=""
  while true; do
    listed=$(psdctl_admin nodes 2>/dev/null || true)
    local s w
    s=$(awk '$2 == "server" && ($4 == "idle" || $4 == "busy")' <<<"$listed" | wc -l)
    w=$(awk '$2 == "worker" && ($4 == "idle" || $4 == "busy")' <<<"$listed" | wc -l)
    [[ $s -ge $servers && $w -ge $workers ]] && break
    for f in "$run_dir"/pids/*.pid; do
      local name
      name=$(basename "$f" .pid)
      live_pid "$name" >/dev/null || die "$name exited during start-up; its log:
$(tail -n 20 "$run_dir/logs/$name.log")"
    done
    [[ $SECONDS -lt $deadline ]] || die "only $s of $servers servers and $w of $workers workers registered in 60 s (logs: $run_dir/logs)"
    sleep 0.2
  done
  if [[ -n "$exit_with" ]]; then
    # A watcher in its own session: when PID is gone, the cluster goes down too.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" down --run-dir "$3"' \
      _ "$exit_with" "$repo/deploy/local/cluster.sh" "$run_dir" </dev/null >/dev/null 2>&1 &
    echo $! >"$run_dir/watcher.pid"
  fi
  echo "cluster up: coordinator $addr, $servers servers, $workers workers (run dir $run_dir)"
  echo "use: export PSD_COORDINATOR=$addr"
  if [[ $insecure -eq 1 ]]; then
    echo "     export PSD_INSECURE=1"
  else
    local d
    d=$(certs_dir)
    echo "     export PSD_TLS_CA=$d/ca-bundle.crt PSD_TLS_CERT=$d/admin.crt PSD_TLS_KEY=$d/admin.key"
  fi
  if [[ -f "$run_dir/console.port" ]]; then
    echo "console: http://127.0.0.1:$(<"$run_dir/console.port")/ (read-only; open it in a browser)"
  fi
  if [[ "$metrics_base_port" != -1 ]]; then
    write_prometheus_targets
    local line="metrics (GET /metrics):"
    for f in "$run_dir"/metrics/*; do line+=" $(basename "$f") 127.0.0.1:$(<"$f")"; done
    echo "$line"
    echo "     Prometheus targets: $run_dir/prometheus-targets.json (deploy/prometheus/prometheus.yml)"
  fi
}

stop_pids() {
  local signal=$1
  shift
  local name pid
  for name in "$@"; do
    pid=$(live_pid "$name") && kill "-$signal" "$pid" 2>/dev/null || true
  done
}

cmd_down() {
  [[ -d "$run_dir/pids" ]] || { echo "no cluster in $run_dir"; return 0; }
  local names=() f
  for f in "$run_dir"/pids/*.pid; do
    [[ -e "$f" ]] && names+=("$(basename "$f" .pid)")
  done
  # Workers first, the coordinator last, so nobody reports a peer's exit as a failure.
  local ordered=()
  for f in "${names[@]}"; do [[ $f == worker-* ]] && ordered+=("$f"); done
  for f in "${names[@]}"; do [[ $f == server-* ]] && ordered+=("$f"); done
  for f in "${names[@]}"; do [[ $f == coordinator ]] && ordered+=("$f"); done
  stop_pids TERM "${ordered[@]}"
  local deadline=$((SECONDS + 15)) alive
  while true; do
    alive=()
    for f in "${ordered[@]}"; do live_pid "$f" >/dev/null && alive+=("$f"); done
    [[ ${#alive[@]} -eq 0 ]] && break
    if [[ $SECONDS -ge $deadline ]]; then
      echo "cluster.sh: ${alive[*]} still running after 15 s: SIGKILL" >&2
      stop_pids KILL "${alive[@]}"
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  rm -f "$run_dir"/pids/*.pid "$run_dir/coordinator.addr"
  if [[ -f "$run_dir/watcher.pid" ]]; then
    local watcher
    watcher=$(<"$run_dir/watcher.pid")
    rm -f "$run_dir/watcher.pid"
    [[ "$watcher" != "$$" ]] && kill "$watcher" 2>/dev/null || true
  fi
  echo "cluster down (${#ordered[@]} daemons stopped; logs kept in $run_dir/logs)"
}

cmd_status() {
  [[ -d "$run_dir/pids" ]] || { echo "no cluster in $run_dir"; return 0; }
  local f name pid
  for f in "$run_dir"/cmds/*; do
    name=$(basename "$f")
    if pid=$(live_pid "$name"); then
      printf '%-14s running  pid %s\n' "$name" "$pid"
    else
      printf '%-14s stopped\n' "$name"
    fi
  done
  if [[ -f "$run_dir/coordinator.addr" ]]; then
    psdctl_admin nodes || true
  fi
}

daemon_arg() {
  [[ ${#args[@]} -ge 1 ]] || die "$command: ROLE is required (coordinator, server, worker)"
  case "${args[0]}" in
    coordinator) name_of coordinator ;;
    server|worker)
      [[ ${#args[@]} -ge 2 && "${args[1]}" =~ ^[0-9]+$ ]] || die "$command: RANK is required"
      name_of "${args[0]}" "${args[1]}" ;;
    *) die "$command: unknown role '${args[0]}' (coordinator, server, worker)" ;;
  esac
}

cmd_logs() {
  local name
  name=$(daemon_arg)
  local log="$run_dir/logs/$name.log"
  [[ -f "$log" ]] || die "no log for $name in $run_dir/logs"
  if [[ $follow -eq 1 ]]; then exec tail -n 50 -F "$log"; else tail -n 100 "$log"; fi
}

cmd_kill() {
  local name pid
  name=$(daemon_arg)
  pid=$(live_pid "$name") || die "$name is not running"
  kill -KILL "$pid"
  echo "killed $name (pid $pid) with SIGKILL"
}

cmd_restart() {
  local name pid
  name=$(daemon_arg)
  [[ -f "$run_dir/cmds/$name" ]] || die "$name was never started in $run_dir"
  if pid=$(live_pid "$name"); then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && [[ $SECONDS -lt $deadline ]]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  launch "$name"
  if [[ "$name" != coordinator ]]; then
    echo "restarted $name (pid $(<"$(pid_file "$name")"))"
    return
  fi
  wait_for_port coordinator
  echo "restarted coordinator (pid $(<"$(pid_file coordinator)")) on port $(<"$run_dir/ports/coordinator")"
}

case "$command" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  kill) cmd_kill ;;
  restart) cmd_restart ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
