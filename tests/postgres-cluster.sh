#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests, from Debian's `postgresql` package: initdb into a temporary folder,
# listening on a free loopback port only, with durability turned off (the data is never kept).
#
#   eval "$(tests/postgres-cluster.sh start)"   # exports FLUXSTUDIO_TEST_POSTGRES and FLUXSTUDIO_TEST_POSTGRES_DIR
#   tests/postgres-cluster.sh stop              # stops the cluster in $FLUXSTUDIO_TEST_POSTGRES_DIR and removes it
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user (made by the package).
set -euo pipefail

bin_dir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
        echo "PostgreSQL's server programs are not installed (apt-get install postgresql)." >&2
        exit 1
    fi
    echo "$dir"
}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local bin dir port
    bin="$(bin_dir)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/fluxstudio-postgres.XXXXXX")"
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U fluxstudio --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    for port in $(seq 55432 55532); do
        port_in_use "$port" && continue
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
            echo "export FLUXSTUDIO_TEST_POSTGRES='Host=127.0.0.1;Port=$port;Username=fluxstudio;Database=postgres'"
            echo "export FLUXSTUDIO_TEST_POSTGRES_DIR='$dir'"
            return 0
        fi
    done
    cat "$dir/server.log" >&2
    exit 1
}

stop() {
    local dir="${FLUXSTUDIO_TEST_POSTGRES_DIR:-}"
    [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
    as_owner "$(bin_dir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
