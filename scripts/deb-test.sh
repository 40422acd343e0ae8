#!/usr/bin/env bash
# The packages' life on this machine (root, Debian 12; CI runs it after `make test`): install
# both, check what they put where, run the installed centre on loopback and an office against it
# as their system users, upgrade to a higher version keeping the replica and an edited
# configuration, remove (data and configuration stay), purge (both go). Exits 1 at the first
# thing that is not as docs/OPERATIONS.md says.
set -euo pipefail
cd "$(dirname "$0")/.."
# Root installs packages and adds system users; as another user, the same through sudo (as
# scripts/setup.sh does for apt), building the packages first as that user.
if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then
        bash scripts/deb.sh >/dev/null
        exec sudo -n --preserve-env=PATH,DEB_OUT PROMO_DEB_SKIP_BUILD=1 bash "$0" "$@"
    fi
    echo "deb-test: needs root, or sudo without a password (it installs packages and adds system users)" >&2
    exit 1
fi
out="$(realpath -m "${DEB_OUT:-dist}")"
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
check() { local what="$1"; shift; "$@" || fail "$what"; echo "deb-test: ok: $what"; }
export DEBIAN_FRONTEND=noninteractive
work="$(mktemp -d)"
central_pid=""
cleanup() {
    [ -n "$central_pid" ] && kill "$central_pid" 2>/dev/null || true
    rm -rf "$work"
    # Whatever happened, leave the machine as it was (a failed run must not break the next).
    if dpkg-query -W promo-sync promo-central >/dev/null 2>&1; then
        apt-get purge -y -qq promo-sync promo-central >/dev/null 2>&1 || true
    fi
    rm -rf /var/lib/promo-central.purged-*
}
trap cleanup EXIT

rm -f "$out"/promo-sync_*.deb "$out"/promo-central_*.deb "$out"/SHA256SUMS "$out"/SHA256SUMS.asc
DEB_OUT="$out" bash scripts/deb.sh
first="$(ls "$out"/promo-sync_*.deb | head -n 1)"
version="$(dpkg-deb -f "$first" Version)"
(cd "$out" && sha256sum -c SHA256SUMS) >/dev/null || fail "the packages do not match SHA256SUMS"

apt-get install -y -qq "$out/promo-central_${version}_"*.deb "$out/promo-sync_${version}_"*.deb >/dev/null
code_version="$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/WireFormat/Version.swift)"
check "promo-sync --version" bash -c "promo-sync --version | grep -qx 'promo-sync $code_version (protocol 1)'"
check "promo-central --version" bash -c "promo-central --version | grep -qx 'promo-central $code_version (protocol 1)'"
for name in promo-sync promo-central; do
    check "$name: binary in /usr/bin, unit in /lib/systemd/system" test -x "/usr/bin/$name" -a -f "/lib/systemd/system/$name.service"
    check "$name: system user" getent passwd "$name"
    check "$name: /var/lib/$name 750 owned by $name" test "$(stat -c '%a %U %G' "/var/lib/$name")" = "750 $name $name"
    check "$name: /etc/$name/$name.toml 640 root:$name" test "$(stat -c '%a %U %G' "/etc/$name/$name.toml")" = "640 root $name"
    # Enabled for the next boot; not started (no systemd runs in CI's container, so only the link shows).
    check "$name: enabled" test -L "/etc/systemd/system/multi-user.target.wants/$name.service"
    check "$name: example configuration" test -f "/usr/share/doc/$name/examples/$name.toml"
done

# The installed centre on loopback, as its user, with the installed configuration.
runuser -u promo-central -- promo-central serve --port 0 --port-file /var/lib/promo-central/port 2>"$work/central.log" &
central_pid=$!
for _ in $(seq 1 100); do [ -s /var/lib/promo-central/port ] && break; sleep 0.1; done
[ -s /var/lib/promo-central/port ] || fail "the installed promo-central did not start: $(cat "$work/central.log")"
url="http://127.0.0.1:$(cat /var/lib/promo-central/port)"
runuser -u promo-central -- promo-central office add 79 --token-file /var/lib/promo-central/79.token >/dev/null
install -m 600 -o promo-sync -g promo-sync /var/lib/promo-central/79.token /var/lib/promo-sync/office.token
rm /var/lib/promo-central/79.token
runuser -u promo-sync -- promo-sync init --office 79 --central "$url" --token-file /var/lib/promo-sync/office.token >/dev/null
runuser -u promo-sync -- promo-sync plan add --year 2025 --fund local --amount 12000000000 >/dev/null
check "init and sync against the installed centre" runuser -u promo-sync -- promo-sync sync
check "the centre holds the office's plan" bash -c "runuser -u promo-central -- promo-central summary | grep -Eq '^  79 +2025 local +12000000000 '"

# Upgrade to a higher version: the replica and an edited configuration stay.
sed -i 's/^interval_seconds = 30$/interval_seconds = 45/' /etc/promo-sync/promo-sync.toml
grep -q '^interval_seconds = 45$' /etc/promo-sync/promo-sync.toml || fail "could not edit the configuration"
PROMO_DEB_SKIP_BUILD=1 PROMO_DEB_VERSION="${version}+upgrade1" DEB_OUT="$work/next" bash scripts/deb.sh >/dev/null
apt-get install -y -qq "$work/next/promo-central_${version}+upgrade1_"*.deb "$work/next/promo-sync_${version}+upgrade1_"*.deb >/dev/null
check "upgraded" test "$(dpkg-query -W -f '${Version}' promo-sync)" = "${version}+upgrade1"
check "the edited configuration survived the upgrade" grep -q '^interval_seconds = 45$' /etc/promo-sync/promo-sync.toml
check "the replica survived the upgrade" bash -c "runuser -u promo-sync -- promo-sync status --json | grep -q '\"office\" : \"79\"'"
check "sync after the upgrade" runuser -u promo-sync -- promo-sync sync

# Remove: data and configuration stay. Purge: both go.
kill "$central_pid"; wait "$central_pid" 2>/dev/null || true; central_pid=""
apt-get remove -y -qq promo-sync promo-central >/dev/null
check "removed: binaries gone" test ! -e /usr/bin/promo-sync -a ! -e /usr/bin/promo-central
check "removed: replica and configuration kept" test -f /var/lib/promo-sync/replica.sqlite -a -f /etc/promo-sync/promo-sync.toml -a -f /var/lib/promo-central/central.sqlite
apt-get purge -y -qq promo-sync promo-central >/dev/null
check "purged: data and configuration gone" test ! -e /var/lib/promo-sync -a ! -e /etc/promo-sync -a ! -e /var/lib/promo-central -a ! -e /etc/promo-central
check "purged: the national store moved aside, not deleted" bash -c "ls -d /var/lib/promo-central.purged-* >/dev/null"
echo "deb-test: the packages install, run, upgrade, remove and purge as documented ($version)"
