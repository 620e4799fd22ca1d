#!/usr/bin/env bash
# Tests run with the network denied (.bazelrc: Bazel's linux-sandbox with
# --sandbox_default_allow_network=false; docs/building.md, "Tests and the network"). This test
# checks that from inside a test: loopback is the only interface and answers, no route leads
# beyond it, and a connect() to a TEST-NET address (198.51.100.1, 2001:db8::1), a DNS lookup and
# an npm registry fetch fail.
# It sends nothing beyond loopback: the connect, DNS and npm cases run only once the interface
# list and the routing table show that no packet can leave, so they fail inside the kernel
# (ENETUNREACH) or on loopback. Where the runner could not deny the network (tests/run.sh sets
# PSD_NETWORK_DENIAL=unavailable:<why>) and the network is visible, it skips with that reason.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../deploy/testlib.sh
source "$(dirname "$0")/../deploy/testlib.sh"

work=$(scratch_dir)
trap 'rm -rf "$work"' EXIT

# 1. Interfaces and routes, from the kernel's tables (nothing is sent).
links=$(ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}')
beyond_lo=$(grep -vx lo <<<"$links" | paste -sd ' ' || true)
routes=$(ip -4 route show table all; ip -6 route show table all 2>/dev/null || true)
off_lo=$(grep -v ' dev lo' <<<"$routes" | grep -c . || true)
echo "interfaces: $(paste -sd ' ' <<<"$links")"
echo "routes:"
while IFS= read -r line; do echo "  $line"; done <<<"$routes"
if [[ -n "$beyond_lo" || $off_lo -ne 0 ]]; then
  why="interfaces beyond loopback: ${beyond_lo:-none}; $off_lo routes off loopback (listed above)"
  if [[ ${PSD_NETWORK_DENIAL:-} == unavailable* ]]; then
    reason=${PSD_NETWORK_DENIAL#unavailable}
    skip "network denied to tests" "${reason#: }; the test sees the network ($why)"
  else
    fail "network denied to tests" "the test sees the network ($why): run tests in Bazel's \
linux-sandbox with --sandbox_default_allow_network=false (.bazelrc), and tag none local, \
no-sandbox or requires-network"
  fi
  summary; exit
fi
pass "only loopback: interfaces: $(paste -sd ' ' <<<"$links")"

lo=$(ip addr show dev lo)
if [[ $lo =~ [\<,]UP[,\>] && $lo == *" inet 127.0.0.1/"* ]]; then
  pass "loopback is up with 127.0.0.1"
else
  fail "loopback is up with 127.0.0.1" "$lo"
fi

for dst in 198.51.100.1 2001:db8::1; do
  if out=$(ip route get "$dst" 2>&1); then
    fail "no route to $dst" "the kernel would route it: $out"
  else
    pass "no route to $dst: $out"
  fi
done

# 2. connect() beyond loopback fails at once with ENETUNREACH; on loopback it gets an answer
#    (nothing listens on port 1 in the test's own network namespace: ECONNREFUSED).
#    (Without IPv6 in the kernel, 2001:db8::1 fails as early, with another error.)
# connect_error HOST PORT: bash's /dev/tcp connect(); prints its error.
connect_error() {
  if timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>&1; then echo "connected"; fi
}
err=$(connect_error 198.51.100.1 9)
if [[ $err == *"Network is unreachable"* ]]; then
  pass "connect() to 198.51.100.1 fails: Network is unreachable"
else
  fail "connect() to 198.51.100.1 fails: Network is unreachable" "got: ${err:-a timeout}"
fi
err=$(connect_error 2001:db8::1 9)
early='(Network is unreachable|Address family not supported|Cannot assign requested address)'
if [[ $err =~ $early ]]; then
  pass "connect() to 2001:db8::1 fails: ${BASH_REMATCH[1]}"
else
  fail "connect() to 2001:db8::1 fails: Network is unreachable" "got: ${err:-a timeout}"
fi
err=$(connect_error 127.0.0.1 1)
if [[ $err == *"Connection refused"* ]]; then
  pass "connect() to 127.0.0.1:1 is answered: Connection refused"
else
  fail "connect() to 127.0.0.1:1 is answered: Connection refused" "got: ${err:-a timeout}"
fi

# 3. DNS: the resolver's queries cannot leave, so a lookup of the registry fails.
if out=$(timeout 30 getent ahosts registry.npmjs.org 2>&1); then
  fail "DNS lookup of registry.npmjs.org fails" "it resolved: $out"
else
  pass "DNS lookup of registry.npmjs.org fails (getent exit $?)"
fi

# 4. A registry fetch with npm, the client that once fetched inside a test: fails, from an empty
#    cache so that nothing is answered locally.
if command -v npm >/dev/null; then
  if out=$(timeout 120 npm view yaml@2.9.1 version --cache "$work/npm-cache" --prefer-online \
      --fetch-retries=0 --fetch-timeout=20000 --no-update-notifier 2>&1); then
    fail "npm registry fetch fails" "npm answered: $out"
  else
    why=$(grep -m 1 -E 'code E|ENOTFOUND|EAI_AGAIN|ENETUNREACH' <<<"$out" || tail -n 1 <<<"$out")
    pass "npm registry fetch fails: $why"
  fi
else
  skip "npm registry fetch fails" "npm not found"
fi
summary
