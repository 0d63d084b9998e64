#!/usr/bin/env bash
# `make demo`: build the extension (release), start a throwaway cluster under
# target/demo (run by the postgres user), load the demo schema, run the
# scenario and leave the cluster running. `make demo-stop` stops it.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DEMO_LINK="$ROOT/target/demo"
DEMO_PORT="${DEMO_PORT:-5499}"
DEMO_DB=audit_demo

demo_dir() { readlink -f "$DEMO_LINK" 2>/dev/null || echo "$DEMO_LINK"; }

stop() {
    if [ -f "$(demo_dir)/data/postmaster.pid" ]; then
        cluster_stop "$(demo_dir)"
        say "demo cluster stopped"
    else
        say "no demo cluster running"
    fi
}

start() {
    "$ROOT/scripts/bootstrap.sh"
    say "building and installing the extension (release; log in target/demo-build.log)"
    mkdir -p "$ROOT/target"
    install_extension release >"$ROOT/target/demo-build.log" 2>&1 \
        || { tail -50 "$ROOT/target/demo-build.log"; exit 1; }

    # A fresh cluster each time: stop and remove a previous one.
    [ -f "$(demo_dir)/data/postmaster.pid" ] && cluster_stop "$(demo_dir)"
    $SUDO rm -rf "$(demo_dir)"
    rm -f "$DEMO_LINK"
    mkdir -p "$ROOT/target"
    # Under target/ when the postgres user can reach it; otherwise (a clone
    # inside a private home directory) in /tmp, linked from target/demo.
    local dir="$DEMO_LINK"
    mkdir -p "$dir"
    $SUDO chown postgres:postgres "$dir"
    if ! as_postgres test -w "$dir"; then
        $SUDO rm -rf "$dir"
        dir="$(postgres_tmpdir)"
        ln -s "$dir" "$DEMO_LINK"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null; then
        echo "port $DEMO_PORT is in use; run with DEMO_PORT=<another port> make demo" >&2
        exit 1
    fi
    say "starting a throwaway cluster in $dir on port $DEMO_PORT"
    # As production runs capture from the WAL (one of the demo's tables):
    # logical WAL, and the library preloaded for its workers.
    cluster_start "$dir" "$DEMO_PORT" wal_level=logical shared_preload_libraries=audit

    local psql=(psql -h 127.0.0.1 -p "$DEMO_PORT" -U postgres -X -q -v ON_ERROR_STOP=1)
    "${psql[@]}" -d postgres -c "CREATE DATABASE $DEMO_DB"
    "${psql[@]}" -d "$DEMO_DB" -f demo/esquema.sql >/dev/null
    say "running the scenario (demo/escenario.sql)"
    "${psql[@]}" -d "$DEMO_DB" -f demo/escenario.sql
    cat <<MSG

The demo cluster is still running. Connect with:
    psql -h 127.0.0.1 -p $DEMO_PORT -U postgres $DEMO_DB
and try, for example:
    SELECT id, audit.resumen(id) FROM audit.get_historial_cambios('{"limite": 10}');
    SELECT * FROM audit.diferencias(4);
Stop it with:
    make demo-stop
MSG
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
