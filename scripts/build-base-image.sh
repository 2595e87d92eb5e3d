#!/usr/bin/env bash
# Build a local Debian bookworm base image with python3 + python3-venv + ca-certificates,
# for machines that cannot pull from any image registry. Usage: build-base-image.sh [IMAGE]
# Skips the work when IMAGE already exists; FORCE=1 rebuilds.
set -euo pipefail

image="${1:-${BASE_IMAGE:-shop-base:bookworm}}"
suite="${SUITE:-bookworm}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "build-base-image: $image exists, nothing to do"
    exit 0
fi

for tool in debootstrap docker; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-base-image: $tool is not installed" >&2; exit 1; }
done

# The mirror apt itself uses here, so the bootstrap goes wherever the host's packages come from.
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    mirror="$(grep -hsoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
fi
if [ -z "$mirror" ]; then
    mirror="$(grep -hsoE '^deb +[^ ]+' /etc/apt/sources.list | awk '{print $2}' | head -n1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs="$(mktemp -d /tmp/shop-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT

echo "build-base-image: debootstrap $suite from $mirror into $rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    echo "build-base-image: debootstrap failed; last lines:" >&2
    tail -n 30 "$rootfs.log" >&2
    exit 1
}
rm -f "$rootfs.log"

# pip inside the image verifies TLS against this bundle; take the host's, which is known to work here.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
# Keep the image small: package lists and caches are not needed at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
       "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$image" >/dev/null
echo "build-base-image: built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
