#!/usr/bin/env bash
# psd's certificates: a CA, and a certificate + key per node and per user, each carrying its
# role. Idempotent: what exists and is still good is kept. See docs/security.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/local/certs.sh --dir D [options] NAME:ROLE...

Makes (once) a CA in D, then for each NAME:ROLE a key D/NAME.key (mode 0600) and a
certificate D/NAME.crt signed by the CA. ROLE is one of coordinator, server, worker, admin,
viewer. Daemons and psdctl trust D/ca-bundle.crt (--tls_ca). Run it again with the same
arguments and nothing changes; a certificate is issued again only when it is missing, was not
signed by the current CA, has another name or role, or expires within --renew-days.

What a certificate says:
  Subject      O=psd, OU=ROLE, CN=NAME         (OU for people; psd reads the SAN URI)
  SAN URI      psd://role/ROLE                 (the role psd authorises by; exactly one)
  SAN DNS      ROLE.psd.internal               (daemons only: clients dial a server as
                                                server.psd.internal, the coordinator as
                                                coordinator.psd.internal, whatever its address)
  key usage    serverAuth + clientAuth (daemons), clientAuth (admin, viewer)
The NAME is the peer's identity: the coordinator binds a node id to it, and a parameter
server accepts a worker's pushes for rank r only from the NAME the coordinator assigned r.

options:
  --dir D            where the CA, certificates and keys live (created with mode 0700)
  --days N           validity of new certificates (default 365)
  --ca-days N        validity of a new CA (default 3650)
  --renew-days N     issue again what expires within N days (default 30)
  --renew            issue the named certificates again now (rotation of leaf certificates)
  --san SAN          another subjectAltName for the named certificates (repeatable), e.g.
                     DNS:node1.example.com or IP:10.0.0.5, for tools that check host names
  --rotate-ca        start a CA rotation: the current CA becomes ca-previous.*, a new CA is
                     made, and ca-bundle.crt trusts both (see docs/security.md)
  --drop-previous-ca finish a CA rotation: ca-bundle.crt trusts the new CA only
  -h, --help         this text
EOF
}

die() { echo "certs.sh: $*" >&2; exit 1; }

dir="" days=365 ca_days=3650 renew_days=30 renew=0 rotate_ca=0 drop_previous=0
sans=() specs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir=${2:?--dir needs a value}; shift 2 ;;
    --days) days=${2:?--days needs a value}; shift 2 ;;
    --ca-days) ca_days=${2:?--ca-days needs a value}; shift 2 ;;
    --renew-days) renew_days=${2:?--renew-days needs a value}; shift 2 ;;
    --renew) renew=1; shift ;;
    --san) sans+=("${2:?--san needs a value}"); shift 2 ;;
    --rotate-ca) rotate_ca=1; shift ;;
    --drop-previous-ca) drop_previous=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) specs+=("$1"); shift ;;
  esac
done
[[ -n "$dir" ]] || die "--dir D is required (see --help)"
for n in "$days" "$ca_days" "$renew_days"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "--days, --ca-days and --renew-days take a number of days, got '$n'"
done
command -v openssl >/dev/null || die "openssl not found (Debian: apt-get install openssl)"

umask 077
mkdir -p "$dir"
chmod 0700 "$dir"
tmp=$(mktemp -d "$dir/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() {
  new_key "$tmp/ca.key"
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$ca_days" \
    -subj "/O=psd/CN=psd CA $(date -u +%Y-%m-%dT%H:%M:%SZ) $(openssl rand -hex 4)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$tmp/ca.crt" 2>/dev/null
  chmod 0600 "$tmp/ca.key"
  chmod 0644 "$tmp/ca.crt"
  mv "$tmp/ca.key" "$dir/ca.key"
  mv "$tmp/ca.crt" "$dir/ca.crt"
  echo "certs.sh: made CA $dir/ca.crt"
}

write_bundle() {
  cat "$dir/ca.crt" >"$tmp/bundle"
  [[ -f "$dir/ca-previous.crt" ]] && cat "$dir/ca-previous.crt" >>"$tmp/bundle"
  chmod 0644 "$tmp/bundle"
  if ! cmp -s "$tmp/bundle" "$dir/ca-bundle.crt" 2>/dev/null; then
    mv "$tmp/bundle" "$dir/ca-bundle.crt"
    echo "certs.sh: wrote $dir/ca-bundle.crt ($(grep -c 'BEGIN CERTIFICATE' "$dir/ca-bundle.crt") CA)"
  fi
}

if [[ $rotate_ca -eq 1 ]]; then
  [[ -f "$dir/ca.crt" ]] || die "--rotate-ca: there is no CA in $dir yet"
  [[ ! -f "$dir/ca-previous.crt" ]] || die "--rotate-ca: a rotation is under way ($dir/ca-previous.crt exists); finish it with --drop-previous-ca first"
  mv "$dir/ca.crt" "$dir/ca-previous.crt"
  mv "$dir/ca.key" "$dir/ca-previous.key"
  make_ca
elif [[ $drop_previous -eq 1 ]]; then
  rm -f "$dir/ca-previous.crt" "$dir/ca-previous.key"
  echo "certs.sh: dropped the previous CA"
elif [[ ! -f "$dir/ca.crt" || ! -f "$dir/ca.key" ]]; then
  make_ca
fi
write_bundle

# good NAME ROLE: the certificate exists, verifies against the current CA, names NAME and ROLE,
# its key matches, and it does not expire within --renew-days.
good() {
  local name=$1 role=$2 crt="$dir/$1.crt" key="$dir/$1.key"
  [[ -f "$crt" && -f "$key" ]] || return 1
  openssl verify -CAfile "$dir/ca.crt" "$crt" >/dev/null 2>&1 || return 1
  openssl x509 -in "$crt" -noout -checkend $((renew_days * 86400)) >/dev/null 2>&1 || return 1
  local text
  text=$(openssl x509 -in "$crt" -noout -subject -ext subjectAltName -nameopt RFC2253 2>/dev/null) || return 1
  grep -q "CN=$name\(,\|$\)" <<<"$text" || return 1
  grep -q "URI:psd://role/$role\(,\|$\| \)" <<<"$text" || return 1
  [[ "$(openssl pkey -in "$key" -pubout 2>/dev/null)" == "$(openssl x509 -in "$crt" -noout -pubkey 2>/dev/null)" ]]
}

issue() {
  local name=$1 role=$2 san="URI:psd://role/$2" usage="clientAuth"
  case "$role" in
    coordinator|server|worker) san+=",DNS:$role.psd.internal"; usage="serverAuth,clientAuth" ;;
  esac
  local extra
  for extra in "${sans[@]}"; do san+=",$extra"; done
  new_key "$tmp/$name.key"
  openssl req -new -key "$tmp/$name.key" -subj "/O=psd/OU=$role/CN=$name" -out "$tmp/$name.csr" 2>/dev/null
  cat >"$tmp/$name.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$dir/ca.srl" -days "$days" -sha256 \
    -extfile "$tmp/$name.ext" -out "$tmp/$name.crt" 2>/dev/null ||
    die "openssl could not sign $name"
  chmod 0600 "$tmp/$name.key"
  chmod 0644 "$tmp/$name.crt"
  mv "$tmp/$name.key" "$dir/$name.key"
  mv "$tmp/$name.crt" "$dir/$name.crt"
  echo "certs.sh: issued $dir/$name.crt ($role)"
}

for spec in "${specs[@]}"; do
  [[ "$spec" =~ ^([A-Za-z0-9][A-Za-z0-9._-]*):(coordinator|server|worker|admin|viewer)$ ]] ||
    die "expected NAME:ROLE with ROLE one of coordinator, server, worker, admin, viewer (NAME: letters, digits, ._-), got '$spec'"
  name=${BASH_REMATCH[1]} role=${BASH_REMATCH[2]}
  [[ "$name" != ca && "$name" != ca-previous && "$name" != ca-bundle ]] || die "$name: reserved name"
  if [[ $renew -eq 0 ]] && good "$name" "$role"; then continue; fi
  issue "$name" "$role"
done
