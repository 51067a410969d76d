#!/usr/bin/env bash
# Build the controller's container image without any container registry (`make image`).
#
#   scripts/build-image.sh [--refresh-base]
#
# 1. A minimal Debian bookworm root filesystem (`debootstrap --variant=minbase` with
#    Python 3.11 and the few packages the controller needs at runtime), made once per
#    machine and kept in ~/.cache/hiclaw-image/ ($HICLAW_IMAGE_CACHE).
# 2. That folder imported as the image hiclaw/debian-base:bookworm; skipped when the
#    image already carries the label of the same package list.
# 3. `docker build` of the Dockerfile on that base, tagged hiclaw/controller:<version
#    from pyproject.toml> and :latest. Docker's layer cache makes a rebuild with nothing
#    changed take seconds.
#
# --refresh-base makes the root filesystem and the base image again (for Debian's
# latest security updates). As root with apt-get, debootstrap is installed when
# missing; otherwise the script says how to get it. Each step says how long it took.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${HICLAW_IMAGE_CACHE:-$HOME/.cache/hiclaw-image}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=hiclaw/debian-base:$SUITE
IMAGE=hiclaw/controller
# What runs in the image: Python 3.11 and venv (the builder stage makes /opt/venv with
# it), CA certificates for HTTPS to Matrix, S3, the gateway and Kubernetes, time zones
# for Django and Celery, and tini as PID 1 (it reaps the worker processes a Celery worker
# starts with the process backend). psycopg comes as psycopg-binary, whose wheel carries
# its own libpq, as the other compiled packages of requirements.txt carry their libraries.
PACKAGES=python3,python3-venv,ca-certificates,tzdata,tini
# Changes whenever the package list, suite or the way the folder is made changes: the
# name of the cached folder and the label of the imported image, so a stale one is never used.
RECIPE_VERSION=1
KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "$RECIPE_VERSION" | sha256sum | cut -c1-12)
ROOTFS=$CACHE/$SUITE-minbase-$KEY
KEY_LABEL=io.hiclaw.base-recipe

say() { printf 'build-image: %s\n' "$*"; }
as_root() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

timed() {  # timed WHAT COMMAND...: run it and say how long it took
    local what=$1 started=$SECONDS
    shift
    "$@"
    say "$what: $((SECONDS - started)) s"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    if ! as_root; then
        say "debootstrap is missing — install it with: sudo apt-get install -y debootstrap (or run this as root)" >&2
        return 1
    fi
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null
}

make_rootfs() {
    if [ -e "$ROOTFS/.complete" ]; then
        say "reusing the root filesystem in $ROOTFS"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        say "debootstrap needs root: run this once as root (or with sudo) to make $ROOTFS" >&2
        return 1
    fi
    ensure_debootstrap
    local work=$ROOTFS.partial
    rm -rf "$work"
    mkdir -p "$CACHE"
    say "debootstrap --variant=minbase $SUITE into $work (minutes on a cold machine)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 30 "$CACHE/debootstrap.log" >&2; return 1; }
    security_updates "$work"
    slim_down "$work"
    touch "$work/.complete"
    mv "$work" "$ROOTFS"
    # Folders of an earlier recipe are never used again.
    find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$SUITE-minbase-*" ! -name "$(basename "$ROOTFS")" \
        -exec rm -rf {} +
}

# debootstrap installs from the release alone; Python and OpenSSL get fixes in
# bookworm-security and bookworm-updates (both served by deb.debian.org too).
security_updates() {
    local dir=$1 mirror_root=${MIRROR%/debian}
    cat >"$dir/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $mirror_root/debian-security $SUITE-security main
EOF
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get update -qq </dev/null >>"$CACHE/debootstrap.log" 2>&1
    DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get upgrade -y -qq </dev/null >>"$CACHE/debootstrap.log" 2>&1
    # Docker writes the container's own resolv.conf; the host's has no place in an image.
    : >"$dir/etc/resolv.conf"
}

# What no container needs: package caches and lists, documentation, logs of the install.
# The dpkg excludes keep packages installed later (the Dockerfile's builder stage) as lean.
slim_down() {
    local dir=$1
    cat >"$dir/etc/dpkg/dpkg.cfg.d/hiclaw-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
    find "$dir/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
    find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
        "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
        "$dir"/var/log/* "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old
}

base_is_current() {
    [ "$(docker image inspect -f "{{ index .Config.Labels \"$KEY_LABEL\" }}" "$BASE_IMAGE" 2>/dev/null)" = "$KEY" ]
}

import_base() {
    say "importing $ROOTFS as $BASE_IMAGE"
    tar -C "$ROOTFS" --exclude=./.complete --numeric-owner -c . \
        | docker import --change "LABEL $KEY_LABEL=$KEY" --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
}

# CA certificates added to this machine's trust store (update-ca-certificates takes them from
# here): where a proxy inspects HTTPS, pip in the Dockerfile's builder stage needs them too.
EXTRA_CA_DIR=${HICLAW_BUILD_CA_DIR:-/usr/local/share/ca-certificates}
build_ca_certs() {
    find "$EXTRA_CA_DIR" -name '*.crt' -type f -exec cat {} + 2>/dev/null || true
}

project_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1
}

build_image() {
    local version
    version=$(project_version)
    [ -n "$version" ] || { say "no version found in pyproject.toml" >&2; return 1; }
    say "docker build $IMAGE:$version on $BASE_IMAGE"
    local extra_ca
    extra_ca=$(build_ca_certs)
    [ -z "$extra_ca" ] || say "pip in the builder stage trusts the CA certificates in $EXTRA_CA_DIR (not the image)"
    docker build --build-arg BASE="$BASE_IMAGE" --build-arg VERSION="$version" --build-arg BUILD_CA_CERTS="$extra_ca" \
        -t "$IMAGE:$version" -t "$IMAGE:latest" "$ROOT"
    local size
    size=$(docker image inspect -f '{{ .Size }}' "$IMAGE:$version")
    say "built $IMAGE:$version and $IMAGE:latest ($((size / 1000000)) MB)"
}

main() {
    if [ "${1:-}" = "--refresh-base" ]; then
        rm -rf "$ROOTFS"
        docker image rm "$BASE_IMAGE" >/dev/null 2>&1 || true
    elif [ -n "${1:-}" ]; then
        say "unknown option '$1' (only --refresh-base)" >&2
        return 2
    fi
    docker info >/dev/null 2>&1 || {
        say "the Docker Engine does not answer — start it with: sudo scripts/test-services.sh docker" >&2
        return 1
    }
    # One build at a time on a machine (parallel test sessions each ask for the image):
    # the next one waits, then finds the base current and Docker's cache warm.
    mkdir -p "$CACHE"
    exec 9>"$CACHE/build.lock"
    flock 9
    local started=$SECONDS
    if base_is_current; then
        say "base image $BASE_IMAGE is current (recipe $KEY)"
    else
        timed "root filesystem" make_rootfs
        timed "base image import" import_base
    fi
    timed "docker build" build_image
    say "total: $((SECONDS - started)) s"
}

main "$@"
