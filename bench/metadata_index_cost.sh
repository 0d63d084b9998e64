#!/usr/bin/env bash
# What the partitions' index of the events with metadata
# (`..._empresa_metadata_idx`, src/sql/bootstrap.sql) costs the capture, in
# one run on one cluster: two databases with the extension, the same
# audited table, the index present in one ("con") and dropped in the other
# ("sin"); the workloads take turns between them, so drift hits both alike.
#   bulk:        one UPDATE of every row of a ROWS-row table (ms, median of RUNS)
#   bulk+ctx:    the same after audit.establecer_contexto, so every event
#                has metadata and enters the index (its worst case)
#   pgbench:     single-row UPDATE by random id, CLIENTS clients, DURATION s
#                (tps, median of PGBENCH_RUNS)
# Prints the medians and the ratio con/sin (above 1.00x for times and below
# for tps is what the index costs).
source "$(dirname "$0")/lib.sh"

ROWS="${ROWS:-200000}"
RUNS="${RUNS:-5}"
PGBENCH_RUNS="${PGBENCH_RUNS:-3}"
DURATION="${DURATION:-10}"
CLIENTS="${CLIENTS:-4}"
DBS=(con sin)

bench_cluster shared_buffers=1GB max_wal_size=16GB checkpoint_timeout=30min

CLAIMS='{"sub":"a1111111-1111-4111-8111-111111111111","email":"bench@example.com","app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a"}}'
export PGOPTIONS="-c request.jwt.claims=$CLAIMS"

for db in "${DBS[@]}"; do
    say "creating database bench_$db ($ROWS rows)"
    "${psql[@]}" -c "CREATE DATABASE bench_$db"
    psql_in "$db" <<SQL
CREATE EXTENSION audit;
CREATE TABLE t (id int PRIMARY KEY, empresa_id uuid NOT NULL, nombre text NOT NULL, saldo numeric(12,2) NOT NULL, actualizado timestamptz NOT NULL);
SELECT audit.auditar('t');
INSERT INTO t SELECT g, 'e0000000-0000-4000-8000-00000000000a', 'cliente ' || g, g % 1000, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE;
SQL
done
# The extension's own maintenance flag lets the index be dropped (the DDL
# guard refuses it otherwise).
psql_in sin <<'SQL'
BEGIN;
SET LOCAL audit.operacion_interna = 'bench';
DO $$
DECLARE i record;
BEGIN
    FOR i IN SELECT c.oid::regclass AS idx FROM pg_class c
              WHERE c.relnamespace = 'audit'::regnamespace AND c.relname LIKE '%\_empresa\_metadata\_idx'
    LOOP
        EXECUTE format('DROP INDEX %s', i.idx);
    END LOOP;
END
$$;
COMMIT;
SQL
say "metadata indexes: con $(psql_in con -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE '%empresa_metadata_idx'"), sin $(psql_in sin -At -c "SELECT count(*) FROM pg_class WHERE relname LIKE '%empresa_metadata_idx'")"

# The databases take turns, in the other order every other run, so that
# neither always runs right after the other's checkpoint.
turn() { if [ $(($1 % 2)) -eq 1 ]; then echo "${DBS[@]}"; else echo "${DBS[1]} ${DBS[0]}"; fi; }
declare -A samples
for run in $(seq "$RUNS"); do
    say "bulk UPDATE of $ROWS rows, without and with a context: run $run of $RUNS"
    for db in $(turn "$run"); do
        samples[bulk_$db]+="$(timed "$db" t "UPDATE t SET saldo = saldo + 1;") "
        samples[ctx_$db]+="$(timed "$db" t "BEGIN; SELECT audit.establecer_contexto('{\"peticion\": \"r-1\"}'); UPDATE t SET saldo = saldo + 1; COMMIT;") "
    done
done
for run in $(seq "$PGBENCH_RUNS"); do
    say "pgbench single-row UPDATE, $CLIENTS clients, ${DURATION}s: run $run of $PGBENCH_RUNS"
    for db in $(turn "$run"); do
        psql_in "$db" -c "CHECKPOINT" >/dev/null
        samples[pgbench_$db]+="$(pgbench_tps "$db" "\\set id random(1, $ROWS)" "UPDATE t SET saldo = saldo + 1 WHERE id = :id;") "
    done
done
declare -A result
for key in "${!samples[@]}"; do
    result[$key]="$(tr ' ' '\n' <<<"${samples[$key]}" | grep . | median)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3fx", a / b }'; }
say "cost of the metadata index (PostgreSQL $("${psql[@]}" -At -c 'SHOW server_version'), $(nproc) cores, $ROWS rows)"
printf '%-34s %10s %10s %9s\n' "workload" "con" "sin" "con/sin"
for key in bulk ctx pgbench; do
    case $key in
        bulk) label="bulk UPDATE (ms)" ;;
        ctx) label="bulk UPDATE with context (ms)" ;;
        pgbench) label="pgbench UPDATE (tps)" ;;
    esac
    printf '%-34s %10.0f %10.0f %9s\n' "$label" "${result[${key}_con]}" "${result[${key}_sin]}" \
        "$(ratio "${result[${key}_con]}" "${result[${key}_sin]}")"
done
