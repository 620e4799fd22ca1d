#!/usr/bin/env bash
# bench/scale/elastic_servers.sh: the pause of moving a running job onto another number of
# servers (issue 15's target: < 2 s per GiB moved, on loopback). For each model size it starts a
# local cluster (deploy/local/cluster.sh --insecure: MAX_SERVERS servers, 1 worker), submits an
# elastic sync Fashion-MNIST MLP with adam (so each parameter moves with two optimizer floats),
# and runs the moves in MOVES one after another with `psdctl scale --servers`, reading each
# move's event ("servers 2 -> 3 at step t: X of Y MiB moved; paused P s (checkpoint W s,
# restore R s)"). Prints, per move: the state's size, the bytes that changed owner, the pause and
# its parts, and the pause per GiB moved and per GiB of state.
#
# usage: bench/scale/elastic_servers.sh
#   Environment: HIDDEN (space-separated list of hidden-layer lists, one job each; default
#   "1024,1024 4096,4096 8192,8192": about 12, 260 and 880 MiB of parameters and adam moments)
#   MOVES (default "2:3 3:4 4:2 2:1"; the first count is the job's servers) MAX_SERVERS (default:
#   the highest count in MOVES) OPTIMIZER (default adam) BAZEL_FLAGS (extra bazel build flags)
#   Output, logs and checkpoints under $PSD_EBENCH_DIR (default /tmp/psd-bench-elastic).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

case "${1:-}" in
  -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  "") ;;
  *) echo "elastic_servers.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
: "${HIDDEN:=1024,1024 4096,4096 8192,8192}" "${MOVES:=2:3 3:4 4:2 2:1}" "${OPTIMIZER:=adam}"
: "${BAZEL_FLAGS:=}"
if [[ -z ${MAX_SERVERS:-} ]]; then
  MAX_SERVERS=$(tr ' :' '\n\n' <<<"$MOVES" | sort -n | tail -1)
fi
first=${MOVES%%:*}
out=${PSD_EBENCH_DIR:-/tmp/psd-bench-elastic}
mkdir -p "$out"

# shellcheck disable=SC2086
bazel build $BAZEL_FLAGS //tools:psdctl //coordinator:psd-coordinator //server:psd-server \
  //worker:psd-worker
bin=$repo/bazel-bin
data=/usr/share/datasets/fashion-mnist

job_yaml() {  # NAME HIDDEN CHECKPOINT_DIR
  cat <<EOF
name: $1
seed: 1
model: {type: mlp, input_dim: 784, hidden: [$2], num_classes: 10, activation: relu}
data:
  format: idx
  train_images: $data/train-images-idx3-ubyte.gz
  train_labels: $data/train-labels-idx1-ubyte.gz
  test_images: $data/t10k-images-idx3-ubyte.gz
  test_labels: $data/t10k-labels-idx1-ubyte.gz
  normalize: true
training:
  max_steps: 1000000
  batch_size: 32
  consistency: sync
  optimizer: {type: $OPTIMIZER, learning_rate: 0.0005}
  log_every: 10
  eval_every: 0
cluster: {servers: $first, workers: 1, device: cpu, elastic: true}
checkpoint: {dir: $3}
EOF
}

# move_event CTL ID FROM TO: waits (10 min at most) for the move's event and prints it.
move_event() {
  local ctl=$1 id=$2 from=$3 to=$4 deadline=$((SECONDS + 600)) ev=""
  while ((SECONDS < deadline)); do
    ev=$($ctl status "$id" 2>/dev/null | grep -o "servers $from -> $to at step [^\"]*" | head -1) || true
    [[ -n $ev ]] && { echo "$ev"; return 0; }
    if $ctl status "$id" 2>/dev/null | grep -q 'state *\(FAILED\|failed\|CANCELLED\)'; then
      return 1
    fi
    sleep 0.5
  done
  return 1
}

summary=$out/summary.txt
printf '%-14s %-7s %10s %10s %8s %8s %8s %11s %11s\n' model move "state MiB" "moved MiB" \
  "pause s" "ckpt s" "load s" "s/GiB moved" "s/GiB state" | tee "$summary"
for hidden in $HIDDEN; do
  name=mlp-${hidden//,/x}
  rd=$out/run-$name
  rm -rf "$rd"
  "$repo/deploy/local/cluster.sh" up --servers "$MAX_SERVERS" --workers 1 --base-port 0 \
    --insecure --run-dir "$rd" --metrics-base-port -1 --console-port -1 \
    >"$out/$name.up.log" 2>&1 || {
    echo "cluster.sh up failed ($name):" && tail -20 "$out/$name.up.log"
    exit 1
  }
  ctl="$bin/tools/psdctl --coordinator=$(<"$rd/coordinator.addr") --insecure"
  job_yaml "$name" "$hidden" "$rd/checkpoints" >"$rd/job.yaml"
  id=$($ctl submit "$rd/job.yaml" 2>&1 | awk 'NF == 1 {print $1} $1 == "job" && $3 == "submitted" {print $2}' | tail -1)
  ok=1
  for move in $MOVES; do
    from=${move%%:*} to=${move##*:}
    # Let the job train a little on its current servers first.
    deadline=$((SECONDS + 300))
    until $ctl status "$id" 2>/dev/null | grep -q 'step [1-9][0-9]'; do
      ((SECONDS < deadline)) || break
      sleep 0.5
    done
    $ctl scale "$id" --servers "$to" >"$rd/scale-$to.out" 2>&1 || { cat "$rd/scale-$to.out"; ok=0; break; }
    if ! ev=$(move_event "$ctl" "$id" "$from" "$to"); then
      echo "$name: no 'servers $from -> $to' event within 10 min; logs in $rd/logs"
      ok=0
      break
    fi
    echo "$name: $ev" >>"$out/events.txt"
    # "servers F -> T at step S: X of Y MiB moved; paused P s (checkpoint W s, restore R s)"
    read -r moved total pause ckpt load < <(sed -E \
      's/.*: ([0-9.]+) of ([0-9.]+) MiB moved; paused ([0-9.]+) s \(checkpoint ([0-9.]+) s, restore ([0-9.]+) s\).*/\1 \2 \3 \4 \5/' <<<"$ev")
    awk -v m="$name" -v mv="$from->$to" -v a="$total" -v b="$moved" -v p="$pause" -v c="$ckpt" \
      -v l="$load" 'BEGIN {
        printf "%-14s %-7s %10.1f %10.1f %8.2f %8.2f %8.2f %11s %11.2f\n", m, mv, a, b, p, c, l,
          (b > 0 ? sprintf("%.2f", p * 1024 / b) : "-"), p * 1024 / a }' | tee -a "$summary"
  done
  $ctl cancel "$id" >/dev/null 2>&1 || true
  "$repo/deploy/local/cluster.sh" down --run-dir "$rd" >/dev/null 2>&1 || true
  rm -rf "$rd/checkpoints"
  [[ $ok == 1 ]] || exit 1
done
echo "summary: $summary; events: $out/events.txt"
