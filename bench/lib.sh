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
