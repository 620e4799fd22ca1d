#!/usr/bin/env bash
# A psd cluster across several hosts, from a hosts file, over ssh: the same daemons and flags as
# deploy/local/cluster.sh, one line of the hosts file per daemon.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy/local/hosts.sh COMMAND [options]

commands:
  up HOSTS_FILE   copy the binaries to every host (unless --installed), start the coordinator,
                  then the servers and workers; returns once all have registered
  down            stop every daemon `up` started (SIGTERM, then SIGKILL after 15 s)
  status          each daemon's state, and the coordinator's node list
  logs NAME       the end of a daemon's log (NAME: coordinator, server-0, worker-1, ...)

The hosts file has one line per daemon, the coordinator first; '#' starts a comment:
  ROLE  HOST  PORT  [FLAG...]
  coordinator  node1  7070
  server       node1  7071
  server       node2  7071
  worker       node2  7072  --threads=8
HOST is both where the daemon runs (the remote-exec target) and the address the other daemons
dial (--advertise_host). Servers and workers get ranks 0, 1, ... in the order of their lines.
FLAGs go to that daemon as they are (e.g. --heartbeat_timeout_ms=5000 for the coordinator).

options:
  --run-dir D      local state of the cluster (default $PSD_RUN_DIR, else .run/hosts)
  --remote-dir D   where logs, pid files, state and the copied binaries live on each host
                   (default /tmp/psd-hosts)
  --remote CMD     how to run a command on a host; {host} is replaced by HOST
                   (default: ssh -o BatchMode=yes {host}; for network namespaces:
                   ip netns exec NS-{host})
  --bin-dir B      local directory of psd-coordinator, psd-server, psd-worker and psdctl to copy
                   (default: this repository's bazel-bin); the hosts need psd's runtime
                   libraries (Debian 12: deploy/local/install_deps.sh)
  --installed B    do not copy: the binaries are already installed in B on every host
  --insecure       plaintext, no certificates: gives up authentication AND authorisation

TLS (the default): `up` makes the certificates with deploy/local/certs.sh in RUN_DIR/certs (a
CA, one certificate per daemon named after it, admin and viewer) and copies to each host's
REMOTE_DIR/certs the CA bundle and the certificates of the daemons that run there (and the
admin's to the coordinator's host, for `status`). Run psdctl with RUN_DIR/certs/admin.*.
USAGE
}

die() { echo "hosts.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
run_dir=${PSD_RUN_DIR:-$repo/.run/hosts}
remote_dir=/tmp/psd-hosts
remote="ssh -o BatchMode=yes {host}"
bin_dir="" installed="" insecure=0
args=()
[[ $# -gt 0 ]] || { usage >&2; exit 2; }
command=$1
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --run-dir) run_dir=${2:?--run-dir needs a value}; shift 2 ;;
    --remote-dir) remote_dir=${2:?--remote-dir needs a value}; shift 2 ;;
    --remote) remote=${2:?--remote needs a value}; shift 2 ;;
    --bin-dir) bin_dir=${2:?--bin-dir needs a value}; shift 2 ;;
    --installed) installed=${2:?--installed needs a value}; shift 2 ;;
    --insecure) insecure=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) args+=("$1"); shift ;;
  esac
done

# Paths travel as plain words through ssh's remote shell: keep them free of quoting trouble.
safe_path() {
  [[ "$2" =~ ^/[A-Za-z0-9_./-]+$ ]] || die "$1 must be an absolute path of letters, digits and _./-, got '$2'"
}

# on HOST CMD...: runs CMD on HOST through the remote-exec prefix (stdin passes through).
on() {
  local host=$1
  shift
  local -a prefix=()
  local word
  for word in $remote; do prefix+=("${word//\{host\}/$host}"); done
  "${prefix[@]}" "$@"
}

# on_script HOST SCRIPT [ARG...]: runs a bash script on HOST; the script comes on stdin, so
# ssh and `ip netns exec` run exactly the same thing.
on_script() {
  local host=$1 script=$2
  shift 2
  local quoted=""
  [[ $# -gt 0 ]] && quoted=$(printf ' %q' "$@")
  printf 'set -euo pipefail\nset --%s\n%s\n' "$quoted" "$script" | on "$host" bash -s
}

# The saved state of a cluster that is up: daemons (NAME ROLE HOST PORT FLAG...), settings.
load_state() {
  [[ -f "$run_dir/daemons" ]] || die "no cluster in $run_dir (run 'hosts.sh up HOSTS_FILE' first)"
  # shellcheck source=/dev/null
  source "$run_dir/settings"
}

# Reads the hosts file into $run_dir/daemons.new: "NAME ROLE HOST PORT FLAG..." per line.
parse_hosts() {
  local file=$1 n=0 line role host port servers=0 workers=0 name
  local -a fields
  : >"$run_dir/daemons.new"
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    line=${line%%#*}
    read -r -a fields <<<"$line"
    [[ ${#fields[@]} -eq 0 ]] && continue
    [[ ${#fields[@]} -ge 3 ]] || die "$file:$n: expected ROLE HOST PORT [FLAG...], got '$line'"
    role=${fields[0]} host=${fields[1]} port=${fields[2]}
    [[ "$host" =~ ^[A-Za-z0-9_.:@-]+$ ]] || die "$file:$n: bad host '$host'"
    [[ "$port" =~ ^[0-9]+$ && $port -le 65535 ]] || die "$file:$n: bad port '$port' (0..65535)"
    case "$role" in
      coordinator)
        [[ -s "$run_dir/daemons.new" ]] && die "$file:$n: the coordinator must be the first line, and only one"
        name=coordinator ;;
      server) name=server-$servers; servers=$((servers + 1)) ;;
      worker) name=worker-$workers; workers=$((workers + 1)) ;;
      *) die "$file:$n: unknown role '$role' (coordinator, server, worker)" ;;
    esac
    [[ -s "$run_dir/daemons.new" || $role == coordinator ]] || die "$file:$n: the first line must be the coordinator"
    echo "$name $role ${fields[*]:1}" >>"$run_dir/daemons.new"
  done <"$file"
  [[ -s "$run_dir/daemons.new" ]] || die "$file: no daemons"
  [[ $servers -ge 1 && $workers -ge 1 ]] || die "$file: need at least one server and one worker"
}

# psdctl's TLS flags on the coordinator's host (the admin certificate copied there).
remote_psdctl_tls() {
  if [[ "${insecure:-0}" == 1 ]]; then
    echo --insecure
  else
    printf '%s\n' "--tls-ca=$remote_dir/certs/ca-bundle.crt" \
      "--tls-cert=$remote_dir/certs/admin.crt" "--tls-key=$remote_dir/certs/admin.key"
  fi
}

local_binary() {
  local name=$1 sub=$2
  if [[ -n "$bin_dir" ]]; then
    echo "$bin_dir/$name"
  else
    echo "$repo/bazel-bin/$sub/$name"
  fi
}

# Starts daemon NAME on HOST; prints its port once it listens.
# shellcheck disable=SC2016  # expanded on the host
REMOTE_START='
name=$1 dir=$2; shift 2
mkdir -p "$dir"/{logs,pids,ports,ids,state}
rm -f "$dir/ports/$name"
setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
echo $! >"$dir/pids/$name.pid"
deadline=$((SECONDS + 30))
until [[ -s "$dir/ports/$name" ]]; do
  if ! kill -0 "$(<"$dir/pids/$name.pid")" 2>/dev/null; then
    echo "$name exited during start-up; the end of its log:" >&2
    tail -n 20 "$dir/logs/$name.log" >&2
    exit 1
  fi
  [[ $SECONDS -lt $deadline ]] || { echo "$name did not listen within 30 s" >&2; exit 1; }
  sleep 0.1
done
cat "$dir/ports/$name"
'

# Prints the pid of daemon NAME if it runs (and is ours: its --port_file is ours).
# shellcheck disable=SC2016  # expanded on the host
REMOTE_PID='
name=$1 dir=$2
f="$dir/pids/$name.pid"
[[ -f "$f" ]] || exit 1
pid=$(<"$f")
[[ -r /proc/$pid/cmdline ]] || exit 1
tr "\0" "\n" <"/proc/$pid/cmdline" | grep -qxF -- "--port_file=$dir/ports/$name" || exit 1
echo "$pid"
'

# Stops daemon NAME: SIGTERM, SIGKILL after 15 s.
# shellcheck disable=SC2016  # expanded on the host
REMOTE_STOP="
$REMOTE_PID"'
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + 15))
while kill -0 "$pid" 2>/dev/null; do
  if [[ $SECONDS -ge $deadline ]]; then
    echo "$name still running after 15 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    break
  fi
  sleep 0.1
done
rm -f "$f"
'

cmd_up() {
  [[ ${#args[@]} -eq 1 ]] || die "up: HOSTS_FILE is required"
  local hosts_file=${args[0]}
  [[ -f "$hosts_file" ]] || die "up: no hosts file $hosts_file"
  safe_path --remote-dir "$remote_dir"
  [[ -z "$installed" ]] || safe_path --installed "$installed"
  mkdir -p "$run_dir"
  if [[ -f "$run_dir/daemons" ]]; then
    die "a cluster is already up from $run_dir (run 'hosts.sh down' first)"
  fi
  parse_hosts "$hosts_file"
  local remote_bin=${installed:-$remote_dir/bin}
  printf 'remote=%q\nremote_dir=%q\nremote_bin=%q\ninsecure=%q\n' "$remote" "$remote_dir" \
    "$remote_bin" "$insecure" >"$run_dir/settings"

  local -a hosts
  mapfile -t hosts < <(awk '{print $3}' "$run_dir/daemons.new" | awk '!seen[$0]++')
  local host
  if [[ -z "$installed" ]]; then
    local -a files=()
    local pair
    for pair in psd-coordinator:coordinator psd-server:server psd-worker:worker psdctl:tools; do
      files+=("$(local_binary "${pair%%:*}" "${pair##*:}")")
      [[ -x "${files[-1]}" ]] || die "${files[-1]} not found: build with bazel build //... or pass --bin-dir"
    done
    for host in "${hosts[@]}"; do
      on "$host" mkdir -p "$remote_bin" || die "cannot reach $host through: $remote"
      tar -c -h -C "$(dirname "${files[0]}")" "$(basename "${files[0]}")" \
        -C "$(dirname "${files[1]}")" "$(basename "${files[1]}")" \
        -C "$(dirname "${files[2]}")" "$(basename "${files[2]}")" \
        -C "$(dirname "${files[3]}")" "$(basename "${files[3]}")" |
        on "$host" tar -x -C "$remote_bin" || die "copying the binaries to $host failed"
    done
    echo "hosts.sh: copied the binaries to $remote_bin on ${#hosts[@]} hosts"
  fi
  local coordinator_host
  coordinator_host=$(awk '$2 == "coordinator" {print $3}' "$run_dir/daemons.new")
  if [[ $insecure -eq 0 ]]; then
    local -a specs=(admin:admin viewer:viewer) mine
    local n r
    while read -r n r _; do specs+=("$n:$r"); done <"$run_dir/daemons.new"
    "$repo/deploy/local/certs.sh" --dir "$run_dir/certs" "${specs[@]}" >/dev/null ||
      die "certs.sh could not make the certificates in $run_dir/certs"
    for host in "${hosts[@]}"; do
      mine=(ca-bundle.crt)
      while read -r n r h _; do
        if [[ "$h" == "$host" ]]; then mine+=("$n.crt" "$n.key"); fi
      done <"$run_dir/daemons.new"
      if [[ "$host" == "$coordinator_host" ]]; then mine+=(admin.crt admin.key); fi
      on "$host" mkdir -p -m 0700 "$remote_dir/certs" </dev/null || die "cannot reach $host through: $remote"
      tar -c -C "$run_dir/certs" "${mine[@]}" | on "$host" tar -x -p -C "$remote_dir/certs" ||
        die "copying the certificates to $host failed"
    done
    echo "hosts.sh: certificates in $run_dir/certs; each host has its daemons' in $remote_dir/certs"
  fi

  # From here on daemons run: `down` finds them through this file.
  mv "$run_dir/daemons.new" "$run_dir/daemons"
  local name role port addr="" bound
  local -a extra cmd
  while read -r name role host port extra_line; do
    read -r -a extra <<<"${extra_line:-}"
    cmd=(--bind=0.0.0.0 "--port=$port" "--port_file=$remote_dir/ports/$name")
    if [[ $insecure -eq 1 ]]; then
      cmd+=(--insecure)
    else
      cmd+=("--tls_ca=$remote_dir/certs/ca-bundle.crt" "--tls_cert=$remote_dir/certs/$name.crt"
        "--tls_key=$remote_dir/certs/$name.key")
    fi
    case "$role" in
      coordinator)
        cmd=("$remote_bin/psd-coordinator" "${cmd[@]}" "--state_dir=$remote_dir/state") ;;
      server|worker)
        cmd=("$remote_bin/psd-$role" "${cmd[@]}" "--coordinator=$addr" "--advertise_host=$host"
          "--node_id_file=$remote_dir/ids/$name" "--preferred_rank=${name##*-}") ;;
    esac
    bound=$(on_script "$host" "$REMOTE_START" "$name" "$remote_dir" "${cmd[@]}" "${extra[@]}" \
      </dev/null) || die "$name on $host did not start (see above); 'hosts.sh down' stops the daemons already started"
    echo "hosts.sh: $name on $host:$bound"
    if [[ $role == coordinator ]]; then
      addr=$host:$bound
      echo "$addr" >"$run_dir/coordinator.addr"
      echo "coordinator_host=$host" >>"$run_dir/settings"
    fi
  done <"$run_dir/daemons"

  local servers workers deadline=$((SECONDS + 60)) listed s w
  servers=$(awk '$2 == "server"' "$run_dir/daemons" | wc -l)
  workers=$(awk '$2 == "worker"' "$run_dir/daemons" | wc -l)
  local -a tls
  mapfile -t tls < <(remote_psdctl_tls)
  while true; do
    listed=$(on "$coordinator_host" "$remote_bin/psdctl" "--coordinator=$addr" "${tls[@]}" nodes </dev/null 2>/dev/null || true)
    s=$(awk '$2 == "server" && ($4 == "idle" || $4 == "busy")' <<<"$listed" | wc -l)
    w=$(awk '$2 == "worker" && ($4 == "idle" || $4 == "busy")' <<<"$listed" | wc -l)
    [[ $s -ge $servers && $w -ge $workers ]] && break
    [[ $SECONDS -lt $deadline ]] || die "only $s of $servers servers and $w of $workers workers registered in 60 s (see 'hosts.sh logs NAME'; 'hosts.sh down' stops them)"
    sleep 0.5
  done
  echo "cluster up: coordinator $addr, $servers servers, $workers workers"
  if [[ $insecure -eq 1 ]]; then
    echo "use: psdctl --coordinator=$addr --insecure ... (on a host that reaches $addr)"
  else
    echo "use: psdctl --coordinator=$addr --tls-ca=$run_dir/certs/ca-bundle.crt --tls-cert=$run_dir/certs/admin.crt --tls-key=$run_dir/certs/admin.key ..."
  fi
}

cmd_down() {
  if [[ ! -f "$run_dir/daemons" ]]; then echo "no cluster in $run_dir"; return 0; fi
  load_state
  local name role host rest stopped=0 failed=0
  # Workers first, the coordinator last, so nobody reports a peer's exit as a failure.
  while read -r name role host rest; do
    if on_script "$host" "$REMOTE_STOP" "$name" "$remote_dir" </dev/null >/dev/null; then
      stopped=$((stopped + 1))
    elif ! on "$host" true </dev/null 2>/dev/null; then
      echo "hosts.sh: cannot reach $host to stop $name" >&2
      failed=$((failed + 1))
    fi
  done < <(awk '$2 == "worker"' "$run_dir/daemons"; awk '$2 == "server"' "$run_dir/daemons";
           awk '$2 == "coordinator"' "$run_dir/daemons")
  [[ $failed -eq 0 ]] || die "$failed daemons could not be stopped; run 'hosts.sh down' again once the hosts are reachable (or remove $run_dir/daemons to forget them)"
  rm -f "$run_dir/daemons" "$run_dir/coordinator.addr"
  echo "cluster down ($stopped daemons stopped; logs kept in $remote_dir/logs on each host)"
}

cmd_status() {
  if [[ ! -f "$run_dir/daemons" ]]; then echo "no cluster in $run_dir"; return 0; fi
  load_state
  local name role host port rest pid
  while read -r name role host port rest; do
    if pid=$(on_script "$host" "$REMOTE_PID" "$name" "$remote_dir" </dev/null 2>/dev/null); then
      printf '%-14s %-22s running  pid %s\n' "$name" "$host" "$pid"
    else
      printf '%-14s %-22s stopped\n' "$name" "$host"
    fi
  done <"$run_dir/daemons"
  local -a tls
  mapfile -t tls < <(remote_psdctl_tls)
  on "$coordinator_host" "$remote_bin/psdctl" "--coordinator=$(<"$run_dir/coordinator.addr")" \
    "${tls[@]}" nodes </dev/null || true
}

cmd_logs() {
  [[ ${#args[@]} -eq 1 ]] || die "logs: NAME is required (coordinator, server-0, worker-1, ...)"
  load_state
  local host
  host=$(awk -v n="${args[0]}" '$1 == n {print $3}' "$run_dir/daemons")
  [[ -n "$host" ]] || die "logs: no daemon '${args[0]}' (see hosts.sh status)"
  on "$host" tail -n 100 "$remote_dir/logs/${args[0]}.log" </dev/null
}

case "$command" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
