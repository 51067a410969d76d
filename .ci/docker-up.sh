#!/usr/bin/env bash
# Make a Docker Engine answer on this machine for the docker backend tests (DESIGN §13).
#
# Idempotent, runs as root without standard input: installs Debian's docker.io
# (dockerd, containerd, runc, tini for --init) and busybox-static (the test
# image's only program) when missing, starts dockerd in the background when no
# engine answers, and waits until `docker info` works. dockerd logs to
# $DOCKERD_LOG (default /var/log/hiclaw-dockerd.log).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/hiclaw-dockerd.log}
DEADLINE_SECONDS=${DOCKER_UP_TIMEOUT:-60}
PIDFILE=/var/run/docker.pid

if [ "$(id -u)" -ne 0 ]; then
    echo "docker-up: must run as root (installs packages and starts dockerd)" >&2
    exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" || missing+=(busybox-static)
# Only a kernel with AppArmor on needs the parser for Docker's default profile.
if [ -e /sys/module/apparmor/parameters/enabled ] && ! command -v apparmor_parser >/dev/null 2>&1; then
    missing+=(apparmor)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "docker-up: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

if docker info >/dev/null 2>&1; then
    echo "docker-up: the Docker Engine already answers"
    exit 0
fi

# A live dockerd, not a zombie: on machines whose PID 1 does not reap, a killed
# dockerd lingers in /proc.
dockerd_running() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && grep -Eq '^State:\s+[^ZX]' "/proc/$pid/status"
}

if dockerd_running; then
    echo "docker-up: dockerd (pid $(cat "$PIDFILE")) is starting; waiting for it"
else
    # A pid file left by a dockerd that died makes the next one refuse to start.
    rm -f "$PIDFILE"
    echo "docker-up: starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi

deadline=$((SECONDS + DEADLINE_SECONDS))
until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "docker-up: the Docker Engine did not answer within ${DEADLINE_SECONDS}s; end of $DOCKERD_LOG:" >&2
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "docker-up: the Docker Engine answers ($(docker version --format '{{.Server.Version}}'))"
