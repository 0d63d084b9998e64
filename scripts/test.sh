#!/usr/bin/env bash
# `make test`: installs what is missing, then runs every test layer:
#   1. lint        cargo fmt --check, cargo clippy -D warnings, and a scan of
#                  the generated install script (pgspot; scripts/scan_sql.sh)
#   2. unit        plain cargo test of the pure model crate (no PostgreSQL)
#   3. pg_test     in-process #[pg_test]s (cargo pgrx test, cluster run as postgres)
#   4. regress     golden SQL files (pg_regress) against a throwaway cluster
#   5. integration Rust client tests: several sessions, roles, commits, pg_dump
#   5b. console   the reference console in headless chromium (WebDriver),
#                  served by crates/audit-console over the demo's database
#   6. clock       layers 4 and 5 again on clusters whose clock starts seconds
#                  before the end of a month (and of a year) and whose time zone
#                  is far from UTC: no test may depend on the date, the month
#                  or the machine's zone (scripts/lib.sh, AUDIT_TEST_CLOCK)
# Every layer runs even if an earlier one failed; the script ends with each
# layer's result and exits non-zero if any failed.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/bootstrap.sh"

results=()
failed=0
layer() {
    local name="$1"
    shift
    say "$name"
    if "$@"; then results+=("ok      $name"); else results+=("FAILED  $name"); failed=1; fi
}

lint() {
    cargo fmt --all -- --check && cargo clippy --workspace --all-targets --quiet -- -D warnings
}

unit() {
    cargo test --quiet -p audit-model
}

pg_test() {
    local dir rc=0
    dir="$(postgres_tmpdir)" || return 1
    cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$dir" || rc=$?
    $SUDO rm -rf "$dir"
    return $rc
}

# The test clusters' settings, as production would have them for every
# capture mode: wal_level=logical and the library preloaded (capture from the
# WAL: its workers and shared memory; the replication test also subscribes an
# archive node to this cluster); logical_decoding_work_mem at its minimum, so
# that the capture worker's decoding spills large transactions to disk in
# every test; prepared transactions allowed (a test commits and rolls back
# some).
TEST_SETTINGS="fsync=off wal_level=logical shared_preload_libraries=audit logical_decoding_work_mem=64kB max_prepared_transactions=10"

# Layers 4 and 5 share one cluster with the normal (non-test) build installed.
CLUSTER=""
PORT=""
# (Layer functions run inside `if`, where `set -e` does not apply: every
# step is chained explicitly.)
sql_cluster_up() {
    install_extension debug >/dev/null || return 1
    CLUSTER="$(postgres_tmpdir)" || return 1
    PORT="$(free_port)" || return 1
    cluster_start "$CLUSTER" "$PORT" $TEST_SETTINGS
}
sql_cluster_down() {
    [ -n "$CLUSTER" ] || return 0
    local rc=0
    cluster_stop "$CLUSTER" || rc=1
    $SUDO rm -rf "$CLUSTER"
    CLUSTER=""
    return $rc
}
trap sql_cluster_down EXIT

regress() {
    "$ROOT/scripts/regress.sh" "$PORT"
}

integration() {
    PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PG_BIN="$PG_BIN" \
        cargo test -p audit-integration-tests -- --test-threads=1
}

console() {
    PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PG_BIN="$PG_BIN" \
        cargo test -p audit-console -- --test-threads=1
}

# A cluster of its own whose clock starts at $1 (tests/clock/reloj.c) in zone $2,
# running the rest of the arguments with its port.
with_clock() {
    local clock="$1" zone="$2" dir port rc=0
    shift 2
    dir="$(postgres_tmpdir)" || return 1
    port="$(free_port)" || return 1
    if AUDIT_TEST_CLOCK="$clock" AUDIT_TEST_ZONE="$zone" cluster_start "$dir" "$port" $TEST_SETTINGS; then
        PORT="$port" "$@" || rc=$?
    else
        rc=1
    fi
    cluster_stop "$dir" || rc=1
    $SUDO rm -rf "$dir"
    return $rc
}

# The golden files cross the end of December 2030 (UTC) while the server's
# zone is a day ahead (UTC+14); the integration tests cross the end of a
# February at a half-hour offset (UTC-3:30).
other_clock() {
    with_clock "2030-12-31 23:59:58 UTC" Pacific/Kiritimati regress \
        && with_clock "2031-02-28 23:59:50 UTC" America/St_Johns integration
}

layer "lint (fmt, clippy)" lint
layer "install script scan (pgspot)" "$ROOT/scripts/scan_sql.sh"
layer "unit tests (audit-model)" unit
layer "in-process tests (#[pg_test])" pg_test
if sql_cluster_up; then
    layer "golden SQL tests (pg_regress)" regress
    layer "integration tests (sessions, roles, commits)" integration
    layer "console in a browser (chromium; screenshots in target/consola)" console
    # A server that does not stop (a capture worker deaf to SIGTERM) fails.
    layer "shutdown of the test cluster within a minute" sql_cluster_down
    layer "golden and integration tests at another clock and zone" other_clock
else
    results+=("FAILED  starting the test cluster")
    failed=1
fi

say "summary"
printf '  %s\n' "${results[@]}"
exit "$failed"
