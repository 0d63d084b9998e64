#!/usr/bin/env bash
# `make demo`: build the extension (release), start a throwaway cluster under
# target/demo (run by the postgres user), load the demo schema, run the
# scenario and leave the cluster running. `make demo-stop` stops it.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DEMO_LINK="$ROOT/target/demo"
DEMO_PORT="${DEMO_PORT:-5499}"
CONSOLE_PORT="${CONSOLE_PORT:-5480}"
DEMO_DB=audit_demo
CONSOLE_PID="$ROOT/target/demo-console.pid"

demo_dir() { readlink -f "$DEMO_LINK" 2>/dev/null || echo "$DEMO_LINK"; }

stop_console() {
    if [ -f "$CONSOLE_PID" ]; then
        kill "$(cat "$CONSOLE_PID")" 2>/dev/null || true
        rm -f "$CONSOLE_PID"
        say "demo console stopped"
    fi
}

# An HS256 JWT of the claims in $1, signed with $SECRET (what an
# application's auth service hands its users; the console sends it).
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() {
    local header payload
    header="$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)"
    payload="$(printf '%s' "$1" | b64url)"
    printf '%s.%s.%s' "$header" "$payload" \
        "$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url)"
}

stop() {
    stop_console
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

    say "building the console's server (crates/audit-console; log in target/demo-build.log)"
    cargo build --release -p audit-console >>"$ROOT/target/demo-build.log" 2>&1 \
        || { tail -50 "$ROOT/target/demo-build.log"; exit 1; }

    # A fresh cluster each time: stop and remove a previous one.
    stop_console
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
    if (exec 3<>"/dev/tcp/127.0.0.1/$CONSOLE_PORT") 2>/dev/null; then
        echo "port $CONSOLE_PORT is in use; run with CONSOLE_PORT=<another port> make demo" >&2
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
    "${psql[@]}" -d "$DEMO_DB" -f demo/consola.sql >/dev/null

    # The console (console/), served with the RPC subset of PostgREST it
    # uses by crates/audit-console, with a secret made for this demo.
    SECRET="$(openssl rand -hex 32)"
    "$ROOT/target/release/audit-console" --escuchar "127.0.0.1:$CONSOLE_PORT" --secreto-jwt "$SECRET" \
        --estaticos "$ROOT/console" \
        --base "host=127.0.0.1 port=$DEMO_PORT user=postgres dbname=$DEMO_DB application_name=audit_console" \
        >"$ROOT/target/demo-console.log" 2>&1 &
    echo $! >"$CONSOLE_PID"
    local claims='"role":"authenticated","exp":'"$(( $(date +%s) + 7 * 86400 ))"
    local juan maria pedro
    juan="$(jwt '{'"$claims"',"sub":"a1111111-1111-4111-8111-111111111111","user_metadata":{"full_name":"Juan Pérez"},"app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a","rol":"administrador"}}')"
    maria="$(jwt '{'"$claims"',"sub":"a2222222-2222-4222-8222-222222222222","user_metadata":{"full_name":"María Gómez"},"app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000b","rol":"administrador"}}')"
    pedro="$(jwt '{'"$claims"',"sub":"a3333333-3333-4333-8333-333333333333","user_metadata":{"full_name":"Pedro Ruiz"},"app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a","rol":"vendedor"}}')"
    cat <<MSG

The console is at http://127.0.0.1:$CONSOLE_PORT/ . Open it as:
    Juan Pérez, administrator of Ferretería Norte:
        http://127.0.0.1:$CONSOLE_PORT/#token=$juan
    María Gómez, administrator of Librería Sur:
        http://127.0.0.1:$CONSOLE_PORT/#token=$maria
    Pedro Ruiz, a seller of Ferretería Norte (not a reader: an empty page):
        http://127.0.0.1:$CONSOLE_PORT/#token=$pedro
MSG
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
