# Shared set-up of the benchmarks. Source it; do not run it.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

# bench_cluster SETTING...: installs what is missing, builds and installs the
# extension (release), starts a throwaway cluster with the given postgres
# settings (stopped and removed on exit) and creates database bench. Sets
# `port` and `psql` (a command array connected to bench).
bench_cluster() {
    "$ROOT/scripts/bootstrap.sh"
    say "building and installing the extension (release)"
    install_extension release >"$ROOT/target/bench-build.log" 2>&1 || { tail -50 "$ROOT/target/bench-build.log"; exit 1; }
    bench_dir="$(postgres_tmpdir)"
    port="$(free_port)"
    trap 'cluster_stop "$bench_dir"; $SUDO rm -rf "$bench_dir"' EXIT
    cluster_start "$bench_dir" "$port" "$@"
    psql=(psql -h 127.0.0.1 -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 -d bench)
    psql -h 127.0.0.1 -p "$port" -U postgres -X -q -c "CREATE DATABASE bench"
}

# median: the median of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }

# The benchmarks that compare databases name them bench_NAME.
# psql_in NAME ARG...: psql connected to database bench_NAME.
psql_in() {
    local name="$1"
    shift
    psql -h 127.0.0.1 -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 -d "bench_$name" "$@"
}

# timing_ms NAME SQL: milliseconds of the statements of SQL run in
# bench_NAME (psql's \timing of each, summed).
timing_ms() {
    printf '\\timing on\n%s\n' "$2" | psql_in "$1" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' \
        | awk '{s += $1} END {if (NR) printf "%.3f\n", s}'
}

# timed NAME TABLE SQL: timing_ms after a VACUUM ANALYZE of TABLE and a
# CHECKPOINT, so that each measurement starts from the same state.
timed() {
    psql_in "$1" -c "VACUUM ANALYZE $2" -c "CHECKPOINT" >/dev/null
    timing_ms "$1" "$3"
}

# pgbench_tps NAME LINE...: transactions per second of a pgbench script of
# these lines in bench_NAME, CLIENTS clients for DURATION seconds.
pgbench_tps() {
    local name="$1" script
    shift
    script="$(mktemp)"
    printf '%s\n' "$@" >"$script"
    chmod 644 "$script"
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$script" "bench_$name" 2>/dev/null \
        | sed -nE 's/^tps = ([0-9.]+) .*/\1/p'
    rm -f "$script"
}
