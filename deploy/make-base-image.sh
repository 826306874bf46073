#!/usr/bin/env bash
# make-base-image.sh - builds the base image localhost/debian:bookworm from
# scratch (debootstrap + podman import), for hosts that cannot reach an image
# registry. Idempotent: does nothing when the image already exists.
#
#   deploy/make-base-image.sh            # build it if missing
#   FORCE=1 deploy/make-base-image.sh    # rebuild it
#
# Environment:
#   IMAGE          the tag to create (default localhost/debian:bookworm)
#   DEBIAN_MIRROR  the Debian mirror (default: the one apt on this host uses,
#                  from /etc/apt/sources.list*; else http://deb.debian.org/debian)
#   SECURITY_MIRROR  likewise for bookworm-security
#   CONTAINERS_CONF  (default: deploy/containers.conf next to this script)
#
# Needs root and: apt-get install -y debootstrap podman buildah runc
# The rootfs is debootstrap's minbase variant (apt, dpkg, bash, coreutils;
# no systemd, no docs, no apt lists), about 75 MB.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
image=${IMAGE:-localhost/debian:bookworm}
suite=bookworm

die() { echo "make-base-image: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap)"
for tool in debootstrap podman; do
	command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y debootstrap podman buildah runc"
done

if [ -z "${FORCE:-}" ] && podman image exists "$image"; then
	echo "make-base-image: $image exists, nothing to do (FORCE=1 rebuilds it)"
	exit 0
fi

# The mirrors apt already uses here: deb822 "URIs:" lines or one-line "deb URI".
apt_uris() {
	{
		sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
	} | tr ' ' '\n' | grep -E '^https?://' || true
}
mirror=${DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security/?$' | head -1)}
security=${security:-http://deb.debian.org/debian-security}
mirror=${mirror%/}
security=${security%/}

work=$(mktemp -d /var/tmp/stipple-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

echo "make-base-image: debootstrap --variant=minbase $suite from $mirror"
start=$(date +%s)
include=
case "$mirror $security" in *https://*) include=--include=ca-certificates ;; esac
debootstrap --variant=minbase $include "$suite" "$rootfs" "$mirror" \
	>"$work/debootstrap.log" 2>&1 || {
	tail -20 "$work/debootstrap.log" >&2
	die "debootstrap failed"
}

# The same sources as the host, so RUN apt-get in image builds finds them.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Keep images small, like the official debian:*-slim images: no docs, man
# pages or locales from later installs; no recommends; no caches or lists.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/01-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
rm -rf "${rootfs:?}"/usr/share/man/* "${rootfs:?}"/usr/share/info/* "${rootfs:?}"/usr/share/locale/* \
	"${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/var/cache/apt/*.bin \
	"${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/log/* "${rootfs:?}"/tmp/* \
	"${rootfs:?}"/dev/*
# The host's name and resolver are supplied by the runtime.
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"

echo "make-base-image: importing as $image"
podman image rm -f "$image" >/dev/null 2>&1 || true
tar --numeric-owner --xattrs -C "$rootfs" -c . |
	podman import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'CMD ["/bin/bash"]' \
		--message "debootstrap --variant=minbase $suite from $mirror" \
		--quiet - "$image" >/dev/null
echo "make-base-image: $image built in $(($(date +%s) - start)) s," \
	"$(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
