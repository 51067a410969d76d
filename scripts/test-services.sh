#!/usr/bin/env bash
# Make every service the test suite uses answer on this machine, starting only
# what does not answer yet (`make test` runs this before pytest).
#
#   scripts/test-services.sh [all|packages|postgres|redis|docker]
#
# As root with apt-get (a fresh Debian machine, CI): installs the missing
# Debian packages, then starts PostgreSQL (a cluster on 127.0.0.1:5432 with the
# login role the tests use, its password rule written here rather than relying
# on a pre-set trust rule), Redis on 127.0.0.1:6379 and dockerd. A second run
# finds everything answering and starts nothing.
#
# As another user, or without apt-get: changes nothing; prints one line per
# missing prerequisite with the command that provides it and exits 1.
set -euo pipefail

PG_ROLE=${HICLAW_TEST_PG_ROLE:-hiclaw}
PG_PASSWORD=${HICLAW_TEST_PG_PASSWORD:-hiclaw}
PG_DB=${HICLAW_TEST_PG_DB:-hiclaw}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/hiclaw-dockerd.log}
REDIS_LOG=${REDIS_LOG:-/var/log/hiclaw-redis.log}
DOCKERD_PIDFILE=/var/run/docker.pid

say() { printf 'test-services: %s\n' "$*"; }
as_root() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

# A package is needed when the file it provides is absent: cheap to check, so a
# second run asks apt nothing.
declare -A PROVIDES=(
    [postgresql]=/usr/bin/pg_ctlcluster
    [redis-server]=/usr/bin/redis-server
    [docker.io]=/usr/sbin/dockerd
    [busybox-static]=/bin/busybox
    [chromium]=/usr/bin/chromium
    [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
    # scripts/kube.sh: keys for the API server, and the calls that wait for it.
    [openssl]=/usr/bin/openssl
    [curl]=/usr/bin/curl
)

missing_packages() {
    local pkg
    for pkg in "${!PROVIDES[@]}"; do
        [ -e "${PROVIDES[$pkg]}" ] || printf '%s\n' "$pkg"
    done
    # docker.io's postgresql check above finds any version; a cluster needs a server binary too.
    [ -n "$(pg_server_version)" ] || printf 'postgresql\n'
    # Only a kernel with AppArmor on needs the parser for Docker's default profile.
    if [ -e /sys/module/apparmor/parameters/enabled ] && ! command -v apparmor_parser >/dev/null 2>&1; then
        printf 'apparmor\n'
    fi
}

pg_server_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

ensure_packages() {
    local missing
    mapfile -t missing < <(missing_packages | sort -u)
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "$what did not answer within the time allowed" >&2
            return 1
        fi
        sleep 0.3
    done
}

# --- PostgreSQL ---------------------------------------------------------------------
pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432; }
pg_login_works() { PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -U "$PG_ROLE" -d "$PG_DB" -tAc 'SELECT 1' >/dev/null 2>&1; }
as_postgres() { runuser -u postgres -- "$@"; }

ensure_postgres() {
    if ! pg_answers; then
        local version
        version=$(pg_server_version)
        if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version main"; then
            say "creating PostgreSQL $version cluster 'main'"
            pg_createcluster "$version" main >/dev/null
        fi
        say "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        wait_for 30 PostgreSQL pg_answers
    fi
    pg_login_works && return 0
    # The role, its database and a password rule for it on loopback, placed first
    # in pg_hba.conf so that no broader rule of the cluster decides for it.
    say "configuring PostgreSQL role '$PG_ROLE'"
    as_postgres psql -q -v ON_ERROR_STOP=1 -v role="$PG_ROLE" -v password="$PG_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" LOGIN CREATEDB PASSWORD :'password';
SQL
    if ! as_postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        as_postgres createdb -O "$PG_ROLE" "$PG_DB"
    fi
    local hba
    hba=$(as_postgres psql -tAc 'SHOW hba_file')
    if ! grep -Eq "^host[[:space:]]+all[[:space:]]+$PG_ROLE[[:space:]]+127\.0\.0\.1/32" "$hba"; then
        local rules="host all $PG_ROLE 127.0.0.1/32 scram-sha-256\nhost all $PG_ROLE ::1/128 scram-sha-256"
        sed -i "1i # Added by the HiClaw test set-up: the test role logs in with a password on loopback.\n$rules" "$hba"
        as_postgres psql -qtAc 'SELECT pg_reload_conf()' >/dev/null
    fi
    pg_login_works || { say "PostgreSQL answers but role '$PG_ROLE' cannot log in on 127.0.0.1" >&2; return 1; }
}

# --- Redis --------------------------------------------------------------------------
redis_answers() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

ensure_redis() {
    redis_answers && return 0
    say "starting Redis (log: $REDIS_LOG)"
    mkdir -p /var/lib/redis "$(dirname "$REDIS_LOG")"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile "$REDIS_LOG"
    wait_for 30 Redis redis_answers
}

# --- Docker Engine ------------------------------------------------------------------
docker_answers() { docker info >/dev/null 2>&1; }

# A live dockerd, not a zombie: on machines whose PID 1 does not reap, a killed
# dockerd lingers in /proc.
dockerd_running() {
    local pid
    pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && grep -Eq '^State:\s+[^ZX]' "/proc/$pid/status"
}

ensure_docker() {
    docker_answers && return 0
    if dockerd_running; then
        say "dockerd (pid $(cat "$DOCKERD_PIDFILE")) is starting; waiting for it"
    else
        # A pid file left by a dockerd that died makes the next one refuse to start.
        rm -f "$DOCKERD_PIDFILE"
        say "starting dockerd (log: $DOCKERD_LOG)"
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    if ! wait_for "${DOCKER_UP_TIMEOUT:-60}" "the Docker Engine" docker_answers; then
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        return 1
    fi
}

# --- without root: say what is missing and how to get it -------------------------------
report_missing() {
    local problems=0 pkg
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        say "missing: $pkg — install it with: sudo apt-get install -y $pkg"
        problems=1
    done < <(missing_packages | sort -u)
    if [ "$problems" -eq 0 ]; then
        pg_answers && pg_login_works \
            || { say "PostgreSQL role '$PG_ROLE' cannot log in on 127.0.0.1:5432 — set it up with: sudo $0 postgres"; problems=1; }
        redis_answers || { say "Redis does not answer on 127.0.0.1:6379 — start it with: sudo $0 redis"; problems=1; }
        if ! docker_answers; then
            if [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ]; then
                say "this user may not use the Docker socket — allow it with: sudo usermod -aG docker $(id -un) (then log in again)"
            else
                say "the Docker Engine does not answer — start it with: sudo $0 docker"
            fi
            problems=1
        fi
    fi
    return "$problems"
}

main() {
    local what=${1:-all}
    if ! as_root; then
        report_missing && return 0
        say "run as root (or with sudo) to have these set up automatically" >&2
        return 1
    fi
    case "$what" in
        packages) ensure_packages ;;
        postgres) ensure_packages && ensure_postgres ;;
        redis) ensure_packages && ensure_redis ;;
        docker) ensure_packages && ensure_docker ;;
        all) ensure_packages && ensure_postgres && ensure_redis && ensure_docker ;;
        *) say "unknown part '$what' (all, packages, postgres, redis, docker)" >&2; return 2 ;;
    esac
}

main "$@"
