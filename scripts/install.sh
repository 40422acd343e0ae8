#!/usr/bin/env bash
# Installs promo-sync (office) or promo-central (centre) on this machine:
#   scripts/install.sh office    binaries, /etc/promo-sync/promo-sync.toml, unit, user promo-sync, /var/lib/promo-sync
#   scripts/install.sh central   binaries, /etc/promo-central/promo-central.toml, unit, user promo-central, /var/lib/promo-central
# DESTDIR=/some/root installs into that tree instead (for packaging and for checking the script);
# users and systemctl are then left alone. Existing configuration files are never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
role="${1:-}"
case "$role" in
    office) name=promo-sync ;;
    central) name=promo-central ;;
    *) echo "usage: scripts/install.sh office|central" >&2; exit 2 ;;
esac
dest="${DESTDIR:-}"
prefix="${PREFIX:-/usr/local}"
if [ -z "$dest" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: installing into / needs root (it adds a system user and a unit): run it with sudo," >&2
    echo "or set DESTDIR=/some/folder to build a staging tree instead." >&2
    exit 1
fi

# The Swift runtime and Foundation are linked into the binaries (as in `make bench` and
# `make chaos`), so a server needs Debian's shared libraries (listed in docs/OPERATIONS.md) but no
# Swift toolchain: a DESTDIR tree built on one machine can be copied to others.
swift build -c release --static-swift-stdlib >/dev/null
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"

install -d "$dest$prefix/bin" "$dest/etc/$name" "$dest/etc/systemd/system" "$dest$prefix/share/doc/promo-sync"
install -m 755 "$bin/promo-sync" "$bin/promo-central" "$dest$prefix/bin/"
# Installed without DWARF debug information (25 MB and 56 MB of it, for an office that downloads
# the binaries over a slow link); function names stay for backtraces and perf, and the build tree
# keeps the full binaries for a debugger.
strip --strip-debug "$dest$prefix/bin/promo-sync" "$dest$prefix/bin/promo-central"
if [ ! -e "$dest/etc/$name/$name.toml" ]; then
    install -m 640 "config/$name.example.toml" "$dest/etc/$name/$name.toml"
fi
sed "s#/usr/local/bin#$prefix/bin#" "systemd/$name.service" > "$dest/etc/systemd/system/$name.service"
chmod 644 "$dest/etc/systemd/system/$name.service"
install -m 644 docs/*.md "$dest$prefix/share/doc/promo-sync/"

if [ -z "$dest" ]; then
    if ! id "$name" >/dev/null 2>&1; then
        useradd --system --home-dir "/var/lib/$name" --no-create-home --shell /usr/sbin/nologin "$name"
    fi
    install -d -m 750 -o "$name" -g "$name" "/var/lib/$name"
    chgrp "$name" "/etc/$name/$name.toml"
    systemctl daemon-reload 2>/dev/null || true
    echo "installed $name. Next:"
    if [ "$role" = office ]; then
        echo "  put the office token in /var/lib/promo-sync/office.token (owner promo-sync, chmod 600)"
        echo "  sudo -u promo-sync promo-sync init --office CODE --central URL --token-file /var/lib/promo-sync/office.token"
    else
        echo "  edit /etc/promo-central/promo-central.toml (certificate and key for HTTPS)"
        echo "  sudo -u promo-central promo-central office add CODE --token-file CODE.token"
    fi
    echo "  systemctl enable --now $name"
else
    echo "installed $name under $dest"
fi
