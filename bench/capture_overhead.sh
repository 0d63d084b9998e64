#!/usr/bin/env bash
# Capture overhead, in one run on one cluster: the same workload on a bare
# table, on a table audited by a PL/pgSQL trigger of the same design
# (plpgsql_reference.sql), and on a table audited by the extension.
#   bulk:    UPDATE of every row of a 200,000-row table (median of RUNS)
#   pgbench: single-row UPDATE by random id, 4 clients, DURATION s (median of RUNS)
# Prints one table with ratios to bare. Needs nothing else running on the machine
# to be meaningful; fsync stays on (the default).
source "$(dirname "$0")/lib.sh"

ROWS="${ROWS:-200000}"
RUNS="${RUNS:-5}"
DURATION="${DURATION:-15}"
CLIENTS="${CLIENTS:-4}"

bench_cluster shared_buffers=1GB max_wal_size=8GB checkpoint_timeout=30min

# Both audited variants read these claims (PGOPTIONS splits on spaces: none here).
CLAIMS='{"sub":"a1111111-1111-4111-8111-111111111111","email":"bench@example.com","app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a"}}'
export PGOPTIONS="-c request.jwt.claims=$CLAIMS"

say "loading $ROWS rows into bench_bare, bench_plpgsql and bench_audit"
"${psql[@]}" -f bench/plpgsql_reference.sql
"${psql[@]}" <<SQL
CREATE EXTENSION audit;
CREATE TABLE bench_bare (id int PRIMARY KEY, empresa_id uuid NOT NULL, nombre text NOT NULL, saldo numeric(12,2) NOT NULL, actualizado timestamptz NOT NULL);
INSERT INTO bench_bare SELECT g, 'e0000000-0000-4000-8000-00000000000a', 'cliente ' || g, g % 1000, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, $ROWS) g;
CREATE TABLE bench_plpgsql (LIKE bench_bare INCLUDING ALL);
INSERT INTO bench_plpgsql SELECT * FROM bench_bare;
CREATE TABLE bench_audit (LIKE bench_bare INCLUDING ALL);
INSERT INTO bench_audit SELECT * FROM bench_bare;
CREATE TRIGGER ref_capture AFTER INSERT OR UPDATE OR DELETE ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION ref.registrar_cambio();
SELECT audit.auditar('bench_audit');
VACUUM ANALYZE;
SQL

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }

# Bulk UPDATE: milliseconds, as psql's \timing reports them.
bulk_ms() {
    local table="$1"
    "${psql[@]}" -c "VACUUM $table" -c "CHECKPOINT" >/dev/null
    "${psql[@]}" <<SQL | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
\timing on
UPDATE $table SET saldo = saldo + 1;
SQL
}

# pgbench single-row UPDATE: transactions per second.
pgbench_tps() {
    local table="$1" script
    script="$(mktemp)"
    printf '\\set id random(1, %s)\nUPDATE %s SET saldo = saldo + 1 WHERE id = :id;\n' "$ROWS" "$table" >"$script"
    chmod 644 "$script"
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$script" bench 2>/dev/null \
        | sed -nE 's/^tps = ([0-9.]+) .*/\1/p'
    rm -f "$script"
}

declare -A bulk tps
for variant in bare plpgsql audit; do
    say "bulk UPDATE of $ROWS rows, $variant, $RUNS runs"
    bulk[$variant]="$(for _ in $(seq "$RUNS"); do bulk_ms "bench_$variant"; done | median)"
done
for variant in bare plpgsql audit; do
    say "pgbench single-row UPDATE, $variant, $CLIENTS clients, $RUNS x ${DURATION}s"
    tps[$variant]="$(for _ in $(seq "$RUNS"); do pgbench_tps "bench_$variant"; done | median)"
done

events="$("${psql[@]}" -Atc "SELECT count(*) FROM audit.historial_cambios WHERE accion = 'UPDATE'")"
say "results ($(nproc) cores, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), medians)"
printf '%-34s %12s %12s %12s\n' "" "bare" "plpgsql" "audit"
printf '%-34s %12.0f %12.0f %12.0f\n' "bulk UPDATE $ROWS rows (ms)" "${bulk[bare]}" "${bulk[plpgsql]}" "${bulk[audit]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-34s %12s %11sx %11sx\n' "  time ratio to bare" "1.00x" \
    "$(ratio "${bulk[plpgsql]}" "${bulk[bare]}")" "$(ratio "${bulk[audit]}" "${bulk[bare]}")"
printf '%-34s %12.0f %12.0f %12.0f\n' "pgbench UPDATE, $CLIENTS clients (tps)" "${tps[bare]}" "${tps[plpgsql]}" "${tps[audit]}"
printf '%-34s %12s %11sx %11sx\n' "  tps ratio to bare" "1.00x" \
    "$(ratio "${tps[plpgsql]}" "${tps[bare]}")" "$(ratio "${tps[audit]}" "${tps[bare]}")"
echo "(audit recorded $events UPDATE events in this run)"
