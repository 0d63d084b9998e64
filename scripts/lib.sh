# Shared helpers for the project's scripts. Source it; do not run it.
# Works as root or as a user with sudo.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PGRX_VERSION="$(sed -nE 's/^pgrx = "=?([^"]+)"$/\1/p' "$ROOT/Cargo.toml")"
# The extension's version (Cargo.toml's first `version =`, the package's).
VERSION="$(sed -nE 's/^version = "([^"]+)"$/\1/p' "$ROOT/Cargo.toml" | head -1)"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Runs a command as the postgres OS user (PostgreSQL refuses to run as root).
as_postgres() { sudo -u postgres -- "$@"; }

# A TCP port on 127.0.0.1 that nothing listens on. The range lies below
# Linux's ephemeral ports (ip_local_port_range, 32768-60999 by default): a
# port in that range can be held at any moment by some client connection's
# local end, which a connect probe does not see and which makes the server's
# bind fail ("Address already in use"), as it once did in CI.
free_port() {
    local p
    for p in $(seq 25100 25999 | shuf); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# A fresh directory the postgres user can use (every parent traversable).
postgres_tmpdir() {
    local d
    d="$(mktemp -d /tmp/audit-pg.XXXXXX)"
    $SUDO chown postgres:postgres "$d"
    chmod 700 "$d" 2>/dev/null || $SUDO chmod 700 "$d"
    echo "$d"
}

# A started cluster's clock and time zone can be moved, to check that no test
# depends on the date, the month or the machine's zone (scripts/test.sh, layer
# "another clock and zone"):
#   AUDIT_TEST_CLOCK  an instant, e.g. "2030-12-31 23:59:58 UTC": the server's
#                     wall clock starts there and runs (tests/clock/reloj.c,
#                     preloaded into the server; timeouts are left alone);
#   AUDIT_TEST_ZONE   the server's TimeZone, as initdb on a machine in that
#                     zone would set it.
# clock_env DIR: the environment that starts the server's clock there.
clock_env() {
    local dir="$1" start
    start="$(date -u -d "$AUDIT_TEST_CLOCK" +%s)" || return 1
    cc -shared -fPIC -O2 -o "$dir/reloj.so" "$ROOT/tests/clock/reloj.c" -ldl || return 1
    echo "LD_PRELOAD=$dir/reloj.so"
    echo "AUDIT_TEST_CLOCK_START=$start"
}

# cluster_start DIR PORT [extra postgres -c settings...]: initdb (if needed)
# and start a cluster owned by postgres, listening on 127.0.0.1:PORT only,
# trusting local TCP connections (throwaway clusters only).
cluster_start() {
    local dir="$1" port="$2"
    shift 2
    local clock=()
    if [ -n "${AUDIT_TEST_CLOCK:-}" ]; then
        mapfile -t clock < <(clock_env "$dir") && [ "${#clock[@]}" -eq 2 ] || return 1
        clock=(env "${clock[@]}")
    fi
    [ -z "${AUDIT_TEST_ZONE:-}" ] || set -- "$@" "timezone=$AUDIT_TEST_ZONE" "log_timezone=$AUDIT_TEST_ZONE"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log"; return 1; }
    fi
    local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=''"
    local setting
    for setting in "$@"; do opts="$opts -c $setting"; done
    as_postgres "${clock[@]}" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
}

# cluster_stop DIR: a fast shutdown, as an administrator would do it. A
# server that does not stop within a minute is a defect (e.g. a capture
# worker that does not heed SIGTERM): it is stopped with -m immediate, so
# that it cannot hold its port and directory, and reported by a non-zero
# status with its log's last lines.
cluster_stop() {
    local dir="$1"
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null && return 0
    echo "the server in $dir did not shut down within 60 s; its log ends with:" >&2
    tail -n 30 "$dir/server.log" >&2 || true
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    return 1
}

# package_extension PROFILE ("release" or "debug"): builds the extension
# with `cargo pgrx package` into target/PROFILE/audit-pgNN (a tree rooted at
# /, as the files are installed), with the released versions' frozen install
# scripts and every upgrade script from sql/ beside the current version's
# generated script: CREATE EXTENSION audit VERSION '<released>' and ALTER
# EXTENSION audit UPDATE need them. Prints the tree's directory.
package_extension() {
    local profile="${1:-debug}" flags=() dir extdir
    [ "$profile" = release ] || flags+=(--debug)
    dir="$ROOT/target/$profile/audit-pg$PG_MAJOR"
    rm -rf "$dir"
    cargo pgrx package "${flags[@]}" --pg-config "$PG_CONFIG" --out-dir "$dir" >&2 || return 1
    extdir="$dir$("$PG_CONFIG" --sharedir)/extension"
    # Every file of sql/ but the current version's frozen script, if it has
    # one: the generated one stands (scripts/scan_sql.sh checks they agree).
    local file
    for file in "$ROOT"/sql/audit--*.sql; do
        [ "$(basename "$file")" = "audit--$VERSION.sql" ] || cp "$file" "$extdir/" || return 1
    done
    echo "$dir"
}

# Installs the extension into the system PostgreSQL ("release" or "debug").
#
# Each file is copied next to its destination and renamed over it, never
# written in place: a running backend has the installed audit.so mapped, and
# overwriting a mapped library (what `cargo pgrx install`'s cp does) kills
# the backends using it with SIGBUS. A rename leaves them the old file.
install_extension() {
    local profile="${1:-debug}" dir file dest
    dir="$(package_extension "$profile")" || return 1
    while IFS= read -r -d '' file; do
        dest="/${file#"$dir"/}"
        $SUDO install -D -m "$(stat -c %a "$file")" "$file" "$dest.new.$$" \
            && $SUDO mv -f "$dest.new.$$" "$dest" || return 1
    done < <(find "$dir" -type f -print0)
}
