#!/usr/bin/env bash
# make deb: promo-sync_VERSION_ARCH.deb and promo-central_VERSION_ARCH.deb in dist/ (DEB_OUT=…),
# with SHA256SUMS beside them (signed as SHA256SUMS.asc when PROMO_DEB_SIGN_KEY names a gpg key),
# then lintian. The version is the release tag (vX.Y.Z on HEAD, which must match
# Sources/WireFormat/Version.swift), else the code's version as a pre-release
# (X.Y.Z~gitDATE.COMMIT); PROMO_DEB_VERSION overrides it (the upgrade test builds a higher one).
# Needs the release build's .build/release to be where SwiftPM puts it (the default).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"
out="${DEB_OUT:-dist}"
code_version="$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/WireFormat/Version.swift)"
if [ -n "${PROMO_DEB_VERSION:-}" ]; then
    version="$PROMO_DEB_VERSION"
elif tag="$(git describe --tags --exact-match --match 'v*' 2>/dev/null)"; then
    if [ "${tag#v}" != "$code_version" ]; then
        echo "deb: HEAD is tagged $tag but Sources/WireFormat/Version.swift says $code_version; make them agree" >&2
        exit 1
    fi
    version="$code_version"
else
    version="${code_version}~git$(git log -1 --format=%cd --date=format:%Y%m%d).$(git rev-parse --short=7 HEAD)"
fi
arch="$(dpkg --print-architecture)"

# PROMO_DEB_SKIP_BUILD=1 packages the release build as it is (deb-test under sudo, and its
# second package of the same binaries), so root never writes into a user's build folder.
if [ "${PROMO_DEB_SKIP_BUILD:-}" = 1 ]; then
    bin="$PWD/.build/release"
    [ -x "$bin/promo-sync" ] && [ -x "$bin/promo-central" ] || { echo "deb: no release build in $bin; run without PROMO_DEB_SKIP_BUILD" >&2; exit 1; }
else
    swift build -c release --static-swift-stdlib >/dev/null
    bin="$(swift build -c release --static-swift-stdlib --show-bin-path)"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
date_r="$(date -R -d "@$(git log -1 --format=%ct)")"

for name in promo-sync promo-central; do
    case "$name" in
        promo-sync) summary="office daemon that syncs a khuyến công replica with promo-central" ;;
        promo-central) summary="central endpoint that khuyến công offices sync with" ;;
    esac
    root="$work/$name"
    doc="$root/usr/share/doc/$name"
    install -d "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/$name" "$doc/examples" "$root/usr/share/man/man1" "$root/DEBIAN"
    # Stripped as Debian's policy asks (the build tree keeps the full binaries for a debugger).
    install -m 755 "$bin/$name" "$root/usr/bin/$name"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/$name"
    sed -e 's#/usr/local/bin#/usr/bin#g' -e 's#/usr/local/share/doc#/usr/share/doc#g' -e 's#^\# Install: see docs/OPERATIONS.md.#\# Installed by the '"$name"' package.#' \
        "systemd/$name.service" > "$root/lib/systemd/system/$name.service"
    chmod 644 "$root/lib/systemd/system/$name.service"
    # The live configuration is a conffile: an upgrade never overwrites an edited one.
    install -m 640 "config/$name.example.toml" "$root/etc/$name/$name.toml"
    install -m 644 "config/$name.example.toml" "$doc/examples/$name.toml"
    install -m 644 README.md docs/*.md packaging/copyright "$doc/"
    printf '%s (%s) stable; urgency=medium\n\n  * Release %s, built from commit %s.\n\n -- promo-sync developers <packages@promo-sync.example.org>  %s\n' \
        "$name" "$version" "$version" "$(git rev-parse --short=12 HEAD)" "$date_r" | gzip -9n > "$doc/changelog.gz"
    # A manual page from the program's own help.
    {
        printf '.TH %s 1 "%s" "%s %s" "User Commands"\n' "$(echo "$name" | tr a-z A-Z)" "$(date -d "@$(git log -1 --format=%ct)" +%Y-%m-%d)" "$name" "$version"
        printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
        printf '.SH DESCRIPTION\n.nf\n'
        "$bin/$name" --help | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"
        printf '.fi\n.SH SEE ALSO\n/usr/share/doc/%s/OPERATIONS.md\n' "$name"
    } | gzip -9n > "$root/usr/share/man/man1/$name.1.gz"
    chmod 644 "$doc/changelog.gz" "$root/usr/share/man/man1/$name.1.gz"

    # Depends: the shared libraries the binary links, as dpkg-shlibdeps computes them.
    mkdir -p "$work/shlibs-$name/debian"
    printf 'Source: promo-sync\n\nPackage: %s\nArchitecture: any\n' "$name" > "$work/shlibs-$name/debian/control"
    shlibs="$(cd "$work/shlibs-$name" && dpkg-shlibdeps -O -e "$root/usr/bin/$name" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
    [ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no dependencies for $name" >&2; exit 1; }

    for script in postinst prerm postrm; do install -m 755 "packaging/$name.$script" "$root/DEBIAN/$script"; done
    echo "/etc/$name/$name.toml" > "$root/DEBIAN/conffiles"
    (cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
    {
        echo "Package: $name"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: promo-sync developers <packages@promo-sync.example.org>"
        echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
        echo "Depends: $shlibs, adduser, init-system-helpers (>= 1.52)"
        echo "Section: net"
        echo "Priority: optional"
        echo "Description: $summary"
        sed 's/^/ /' "packaging/$name.description"
    } > "$root/DEBIAN/control"
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
    echo "deb: $out/${name}_${version}_${arch}.deb"
done

rm -f "$out/SHA256SUMS.asc"
(cd "$out" && sha256sum "promo-sync_${version}_${arch}.deb" "promo-central_${version}_${arch}.deb" > SHA256SUMS)
if [ -n "${PROMO_DEB_SIGN_KEY:-}" ]; then
    gpg --batch --yes --local-user "$PROMO_DEB_SIGN_KEY" --armor --detach-sign --output "$out/SHA256SUMS.asc" "$out/SHA256SUMS"
    echo "deb: signed $out/SHA256SUMS.asc with $PROMO_DEB_SIGN_KEY"
fi
if command -v lintian >/dev/null 2>&1; then
    # Errors fail the build; the warnings that remain are explained in docs/OPERATIONS.md.
    lintian --fail-on error --suppress-tags-from-file packaging/lintian-explained "$out/promo-sync_${version}_${arch}.deb" "$out/promo-central_${version}_${arch}.deb"
fi
