#!/usr/bin/env bash
# deploy/local/hosts.sh across two "hosts": network namespaces joined by a veth pair, with
# addresses that exist only inside them (192.0.2.1 and 192.0.2.2, TEST-NET-1). hosts.sh reaches
# them with --remote 'ip netns exec NS' instead of ssh, through the same code path. A small job
# (2 servers and 2 workers split across the hosts, 50 steps) is trained with psdctl; then
# everything is taken down, and the namespaces are deleted whatever happened.
# Needs root (ip netns); skips otherwise.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testlib.sh
source "$here/testlib.sh"

repo=$(repo_root)
work=$(scratch_dir)
hosts_sh=$repo/deploy/local/hosts.sh
tag=psdt$$
ns_a="$tag-192.0.2.1" ns_b="$tag-192.0.2.2"
hosts=(--run-dir "$work/run" --remote-dir "$work/remote" --remote "ip netns exec $tag-{host}")
dataset=/usr/share/datasets/fashion-mnist

cleanup() {
  local ns
  timeout 60 "$hosts_sh" down "${hosts[@]}" >/dev/null 2>&1 || true
  for ns in "$ns_a" "$ns_b"; do
    if ip netns list 2>/dev/null | grep -qF "$ns"; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if [[ $(id -u) -ne 0 ]]; then
  skip hosts_netns "not root: creating network namespaces (ip netns add) needs root"
  summary; exit
fi
if ! ip netns add "$ns_a" 2>"$work/netns.err"; then
  skip hosts_netns "cannot create a network namespace: $(cat "$work/netns.err")"
  summary; exit
fi
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [[ ! -r "$dataset/$f" ]]; then
    skip hosts_netns "no $dataset/$f (Debian package dataset-fashion-mnist)"
    summary; exit
  fi
done

# Two hosts: lo up, one veth end each, 192.0.2.1/24 and 192.0.2.2/24.
if ip netns add "$ns_b" &&
   ip link add "${tag}a" netns "$ns_a" type veth peer name "${tag}b" netns "$ns_b" &&
   ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
   ip -n "$ns_a" addr add 192.0.2.1/24 dev "${tag}a" && ip -n "$ns_b" addr add 192.0.2.2/24 dev "${tag}b" &&
   ip -n "$ns_a" link set "${tag}a" up && ip -n "$ns_b" link set "${tag}b" up; then
  pass "two hosts: network namespaces $ns_a and $ns_b joined by a veth pair"
else
  fail "two hosts" "could not set up the namespaces and the veth pair"
  summary; exit
fi

# The binaries to copy, in one directory (hosts.sh --bin-dir).
# (runfiles under Bazel; bazel-bin when run by hand from a checkout).
mkdir -p "$work/bin"
for path in coordinator/psd-coordinator server/psd-server worker/psd-worker tools/psdctl; do
  if [[ -x "$repo/$path" ]]; then ln -s "$repo/$path" "$work/bin/"; else ln -s "$repo/bazel-bin/$path" "$work/bin/"; fi
done

cat >"$work/hosts" <<'HOSTS'
# role       host        port  flags
coordinator  192.0.2.1   7070  --heartbeat_timeout_ms=5000
server       192.0.2.1   7071
server       192.0.2.2   7071
worker       192.0.2.1   7072  --threads=1
worker       192.0.2.2   7072  --threads=1
HOSTS

if timeout 120 "$hosts_sh" up "$work/hosts" "${hosts[@]}" --bin-dir "$work/bin" \
    >"$work/up.out" 2>&1; then
  pass "hosts.sh up: $(tail -n 2 "$work/up.out" | head -n 1)"
else
  fail "hosts.sh up" "$(cat "$work/up.out")"
  summary; exit
fi
cat "$work/up.out"

timeout 60 "$hosts_sh" status "${hosts[@]}" >"$work/status.out" 2>&1 || true
cat "$work/status.out"
running=$(grep -c ' running  pid ' "$work/status.out" || true)
on_a=$(grep -cE '^(server|worker)-[0-9a-f]+ +(server|worker) +192\.0\.2\.1:' "$work/status.out" || true)
on_b=$(grep -cE '^(server|worker)-[0-9a-f]+ +(server|worker) +192\.0\.2\.2:' "$work/status.out" || true)
if [[ $running -eq 5 && $on_a -eq 2 && $on_b -eq 2 ]]; then
  pass "hosts.sh status: 5 daemons running; 2 nodes registered from each host"
else
  fail "hosts.sh status" "expected 5 running and 2 nodes per host, got $running running, $on_a and $on_b"
fi

cat >"$work/job.yaml" <<JOB
name: hosts-netns
model:
  type: mlp
  hidden: [64]
data:
  train_images: $dataset/train-images-idx3-ubyte.gz
  train_labels: $dataset/train-labels-idx1-ubyte.gz
  test_images: $dataset/t10k-images-idx3-ubyte.gz
  test_labels: $dataset/t10k-labels-idx1-ubyte.gz
training:
  max_steps: 50
  batch_size: 64
  consistency: sync
  optimizer: {type: momentum, learning_rate: 0.05}
  log_every: 10
cluster:
  servers: 2
  workers: 2
  device: cpu
JOB
# As the admin, with the certificate hosts.sh made in its run directory.
if timeout 180 ip netns exec "$ns_b" "$work/remote/bin/psdctl" --coordinator=192.0.2.1:7070 \
    --tls-ca="$work/run/certs/ca-bundle.crt" --tls-cert="$work/run/certs/admin.crt" \
    --tls-key="$work/run/certs/admin.key" \
    submit "$work/job.yaml" --wait >"$work/job.out" 2>&1 &&
   grep -q '^job hosts-netns-1 succeeded: ' "$work/job.out"; then
  pass "job trained across the two hosts: $(grep '^job hosts-netns-1 succeeded' "$work/job.out")"
else
  fail "job across the two hosts" "$(tail -n 5 "$work/job.out"); $(for n in coordinator server-0 server-1 worker-0 worker-1; do
    echo "--- $n"; tail -n 5 "$work/remote/logs/$n.log" 2>/dev/null; done)"
fi
cat "$work/job.out"

if timeout 60 "$hosts_sh" down "${hosts[@]}" >"$work/down.out" 2>&1; then
  left=$( (ip netns pids "$ns_a"; ip netns pids "$ns_b") 2>/dev/null | wc -l)
  if [[ $left -eq 0 ]]; then
    pass "hosts.sh down: $(cat "$work/down.out"); no process left in the namespaces"
  else
    fail "hosts.sh down" "$left processes still run in the namespaces"
  fi
else
  fail "hosts.sh down" "$(cat "$work/down.out")"
fi

cleanup
trap - EXIT
if ip netns list | grep -qF "$tag-"; then
  fail "namespaces deleted" "$(ip netns list | grep -F "$tag-")"
else
  pass "namespaces deleted"
fi
summary
