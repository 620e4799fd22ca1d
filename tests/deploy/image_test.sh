#!/usr/bin/env bash
# Builds psd's image for real with podman on a Debian base made by debootstrap (no registry),
# then starts each role from it on the host network: every program answers --help, every daemon
# answers gRPC health, the daemons form a cluster, a 30-step job trains on two workers with the
# dataset mounted, the one started with PSD_EXIT_AFTER_JOB=1 exits 0 after it (the other stays),
# and `podman stop` (SIGTERM) ends each daemon cleanly. Takes ~10-20 minutes cold (the Bazel build inside the image), ~1 minute
# with podman's layer cache warm. Not in CI (too long): run it by hand, as root, with
#   bazel build //tests/deploy:grpc_health_check && tests/deploy/image_test.sh
# It ends with the line "PSD_TEST_SUMMARY passed=P failed=F skipped=S" and exits 1 on a failure.
# Environment: PSD_IMAGE_BASE (default localhost/psd-debian-base:bookworm; made if missing),
# PSD_IMAGE_TAG (default localhost/psd:test), PSD_IMAGE_REUSE=1 (test that image as it is, no
# build), CONTAINERS_CONF (default tests/deploy/containers.conf).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testlib.sh
source "$here/testlib.sh"

repo=$(repo_root)
work=$(scratch_dir)
chmod 0777 "$work"  # the containers run as uid 10001 and write port files here
base=${PSD_IMAGE_BASE:-localhost/psd-debian-base:bookworm}
image=${PSD_IMAGE_TAG:-localhost/psd:test}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$repo/tests/deploy/containers.conf}
health=$repo/tests/deploy/grpc_health_check
[[ -x "$health" ]] || health=$repo/bazel-bin/tests/deploy/grpc_health_check
names=()
dataset=/usr/share/datasets/fashion-mnist

cleanup() {
  local n
  for n in "${names[@]}"; do podman rm -f -t 5 "$n" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

if ! command -v podman >/dev/null; then
  skip image "podman not found (apt-get install podman buildah runc)"
  summary; exit
fi
if [[ ! -x "$health" ]]; then
  skip image "no grpc_health_check binary (bazel build //tests/deploy:grpc_health_check)"
  summary; exit
fi

# The base image, made once with debootstrap.
if ! podman image exists "$base"; then
  if [[ "$base" == localhost/psd-debian-base:bookworm ]] &&
     timeout 900 "$repo/deploy/docker/make-base.sh" --tag "$base" >"$work/base.log" 2>&1; then
    pass "base image $base made with debootstrap"
  else
    fail "base image $base" "$(tail -n 5 "$work/base.log" 2>/dev/null)"
    summary; exit
  fi
fi

# The build context is the source tree itself (under Bazel, where the runfiles point to).
src=$(cd "$(dirname "$(readlink -f "$repo/deploy/docker/Dockerfile")")/../.." && pwd)
start=$SECONDS
if [[ "${PSD_IMAGE_REUSE:-0}" == 1 ]] && podman image exists "$image"; then
  skip "image build" "PSD_IMAGE_REUSE=1: testing $image as it is"
elif timeout 3000 "$src/deploy/docker/build-image.sh" --tool podman --base "$base" --tag "$image" \
    >"$work/build.log" 2>&1; then
  size=$(podman image inspect --format '{{.Size}}' "$image")
  pass "image built in $((SECONDS - start)) s: $image, $((size / 1024 / 1024)) MiB"
else
  fail "image build" "$(tail -n 30 "$work/build.log")"
  summary; exit
fi

# run NAME ARGS...: a detached container on the host network.
run() {
  local name=psdtest-$$-$1
  shift
  names+=("$name")
  podman run -d --name "$name" --network host -v "$work:/out" "$@" >/dev/null
}
# once NAME SECONDS ARGS...: a container run to its end (removed after, also on a time-out).
once() {
  local name=psdtest-$$-$1 seconds=$2 rc=0
  shift 2
  names+=("$name")
  timeout -k 10 "$seconds" podman run --rm --name "$name" --network host "$@" || rc=$?
  podman rm -f -t 2 "$name" >/dev/null 2>&1 || true
  return $rc
}
port_of() {
  local deadline=$((SECONDS + 30))
  until [[ -s "$work/$1.port" ]]; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.2
  done
  cat "$work/$1.port"
}
healthy() {
  local deadline=$((SECONDS + 30))
  until "$health" "127.0.0.1:$1" >"$work/health.out" 2>&1; do
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.5
  done
  cat "$work/health.out"
}

uid=$(once id 60 --entrypoint id "$image" -u 2>&1 || true)
if [[ "$uid" == 10001 ]]; then pass "runs as a non-root user (uid $uid)"; else fail "non-root user" "id -u: $uid"; fi

declare -A usage=([coordinator]="psd-coordinator --state_dir" [server]="psd-server --coordinator"
  [worker]="psd-worker --coordinator" [psdctl]="psdctl: the command line of psd"
  [datagen]="usage: psd-datagen <command>")
for role in coordinator server worker psdctl datagen; do
  out=$(once "help-$role" 60 "$image" "$role" --help 2>&1 || true)
  if grep -qF -- "${usage[$role]}" <<<"$out"; then
    pass "$role --help"
  else
    fail "$role --help" "$(head -n 5 <<<"$out")"
  fi
done

# The daemons, on loopback ports they pick themselves, plaintext (--insecure): this test is about
# the image; mutual TLS is tested by //tests:authz_test and the e2e tests, and the Kubernetes
# manifests' use of it by //tests/deploy:k8s_manifests_test.
run coordinator "$image" coordinator --insecure --bind=127.0.0.1 --port=0 \
  --port_file=/out/coordinator.port --state_dir=/var/lib/psd/state
if cport=$(port_of coordinator) && h=$(healthy "$cport"); then
  pass "coordinator answers gRPC health: $h"
else
  fail "coordinator health" "$(podman logs "psdtest-$$-coordinator" 2>&1 | tail -n 10)"
  summary; exit
fi
coordinator=127.0.0.1:$cport
for role in server worker; do
  extra=() volume=()
  [[ $role == worker ]] && extra=(--threads=1) volume=(-v "$dataset:/data:ro")
  run "$role" "${volume[@]}" "$image" "$role" --insecure --coordinator="$coordinator" --bind=127.0.0.1 --port=0 \
    --port_file="/out/$role.port" --advertise_host=127.0.0.1 "${extra[@]}"
  if p=$(port_of "$role") && h=$(healthy "$p"); then
    pass "$role answers gRPC health: $h"
  else
    fail "$role health" "$(podman logs "psdtest-$$-$role" 2>&1 | tail -n 10)"
  fi
done

# A second worker that leaves after its job (what the Kubernetes worker Job relies on), and a
# job on both workers with the data mounted read-only, as in the pods.
run worker1 -e PSD_EXIT_AFTER_JOB=1 -v "$dataset:/data:ro" "$image" worker --insecure \
  --coordinator="$coordinator" --bind=127.0.0.1 --port=0 --port_file=/out/worker1.port \
  --advertise_host=127.0.0.1 --threads=1
cat >"$work/job.yaml" <<'JOB'
name: image-test
model: {type: logreg}
data:
  train_images: /data/train-images-idx3-ubyte.gz
  train_labels: /data/train-labels-idx1-ubyte.gz
  test_images: /data/t10k-images-idx3-ubyte.gz
  test_labels: /data/t10k-labels-idx1-ubyte.gz
training: {max_steps: 30, batch_size: 64, optimizer: {type: sgd, learning_rate: 0.1}}
cluster: {servers: 1, workers: 2, device: cpu}
JOB
if [[ ! -r "$dataset/train-images-idx3-ubyte.gz" ]]; then
  skip "job in containers" "no $dataset (Debian package dataset-fashion-mnist)"
elif port_of worker1 >/dev/null &&
   once submit 120 -v "$work:/out:ro" -e PSD_WAIT_FOR_COORDINATOR=30 \
     "$image" psdctl --insecure --coordinator="$coordinator" submit /out/job.yaml --wait >"$work/job.out" 2>&1; then
  pass "job in containers: $(tail -n 1 "$work/job.out")"
  rc=$(timeout 60 podman wait "psdtest-$$-worker1" 2>/dev/null || echo timeout)
  if [[ "$rc" == 0 ]] && podman container inspect --format '{{.State.Running}}' "psdtest-$$-worker" | grep -qx true; then
    pass "worker with PSD_EXIT_AFTER_JOB=1 exited 0 after the job; the plain worker still runs"
  else
    fail "worker with PSD_EXIT_AFTER_JOB=1" "exit status $rc; $(podman logs "psdtest-$$-worker1" 2>&1 | tail -n 5)"
  fi
else
  fail "job in containers" "$(tail -n 5 "$work/job.out" 2>/dev/null); $(podman logs "psdtest-$$-worker1" 2>&1 | tail -n 5)"
fi

# SIGTERM (podman stop) ends each daemon with status 0 well within its grace period.
for role in worker server coordinator; do
  name=psdtest-$$-$role
  podman stop -t 20 "$name" >/dev/null 2>&1 || true
  rc=$(podman inspect --format '{{.State.ExitCode}}' "$name" 2>/dev/null || echo "?")
  if [[ "$rc" == 0 ]] && podman logs "$name" 2>&1 | grep -q "stopped"; then
    pass "$role stops cleanly on SIGTERM"
  else
    fail "$role SIGTERM" "exit status $rc; $(podman logs "$name" 2>&1 | tail -n 3)"
  fi
done
summary
