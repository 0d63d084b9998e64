#!/usr/bin/env bash
# Capture overhead, in one run on one cluster: the same workloads on a bare
# table, on a table audited by a PL/pgSQL trigger of the same design
# (plpgsql_reference.sql), on a table audited by the extension (row capture,
# the default) and, for the bulk statements and memory, on a table audited
# with "captura": "sentencia" (statement triggers with transition tables).
#   bulk:    INSERT, UPDATE and DELETE of every row of a ROWS-row table, one
#            statement each (milliseconds, median of RUNS; the variants take
#            turns within each run, so drift hits all three alike)
#   pgbench: single-row UPDATE by random id and single-row INSERT, CLIENTS
#            clients, DURATION s each (tps, median of PGBENCH_RUNS)
#   memory:  one UPDATE of every row of a MEMORY_ROWS-row table, bare and
#            audited: the backend's peak private memory (RssAnon, sampled
#            every 50 ms) against its size before the statement
# Prints one table with ratios to bare. Needs nothing else running on the
# machine to be meaningful; fsync stays on (the default).
source "$(dirname "$0")/lib.sh"

ROWS="${ROWS:-200000}"
RUNS="${RUNS:-5}"
PGBENCH_RUNS="${PGBENCH_RUNS:-3}"
DURATION="${DURATION:-10}"
CLIENTS="${CLIENTS:-4}"
MEMORY_ROWS="${MEMORY_ROWS:-2000000}"
VARIANTS=(bare plpgsql audit sentencia)
# pgbench's single-row statements: the row path only.
PGBENCH_VARIANTS=(bare plpgsql audit)

bench_cluster shared_buffers=1GB max_wal_size=16GB checkpoint_timeout=30min

# Both audited variants read these claims (PGOPTIONS splits on spaces: none here).
CLAIMS='{"sub":"a1111111-1111-4111-8111-111111111111","email":"bench@example.com","app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a"}}'
export PGOPTIONS="-c request.jwt.claims=$CLAIMS"

say "creating bench_bare, bench_plpgsql, bench_audit and bench_sentencia ($ROWS rows of source data)"
"${psql[@]}" -f bench/plpgsql_reference.sql
"${psql[@]}" <<SQL
CREATE EXTENSION audit;
CREATE TABLE bench_source (id int PRIMARY KEY, empresa_id uuid NOT NULL, nombre text NOT NULL, saldo numeric(12,2) NOT NULL, actualizado timestamptz NOT NULL);
INSERT INTO bench_source SELECT g, 'e0000000-0000-4000-8000-00000000000a', 'cliente ' || g, g % 1000, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, $ROWS) g;
CREATE TABLE bench_bare (LIKE bench_source INCLUDING ALL);
CREATE TABLE bench_plpgsql (LIKE bench_source INCLUDING ALL);
CREATE TABLE bench_audit (LIKE bench_source INCLUDING ALL);
CREATE TABLE bench_sentencia (LIKE bench_source INCLUDING ALL);
CREATE TRIGGER ref_capture AFTER INSERT OR UPDATE OR DELETE ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION ref.registrar_cambio();
SELECT audit.auditar('bench_audit');
SELECT audit.auditar('bench_sentencia', '{"captura": "sentencia"}');
-- pgbench INSERT takes its ids from here, above the loaded ones.
CREATE SEQUENCE bench_ids START $((ROWS + 1));
VACUUM ANALYZE;
SQL

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }

# timed SQL: milliseconds of one statement, as psql's \timing reports them,
# after a VACUUM and a CHECKPOINT (each statement starts from the same state).
timed() {
    local table="$1" sql="$2"
    "${psql[@]}" -c "VACUUM ANALYZE $table" -c "CHECKPOINT" >/dev/null
    printf '\\timing on\n%s;\n' "$sql" | "${psql[@]}" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
}

declare -A samples
for run in $(seq "$RUNS"); do
    say "bulk INSERT, UPDATE, DELETE of $ROWS rows: run $run of $RUNS"
    # Each run ends with the tables empty again (the DELETE), as they start.
    for v in "${VARIANTS[@]}"; do
        samples[insert_$v]+="$(timed "bench_$v" "INSERT INTO bench_$v SELECT * FROM bench_source") "
        samples[update_$v]+="$(timed "bench_$v" "UPDATE bench_$v SET saldo = saldo + 1") "
        samples[delete_$v]+="$(timed "bench_$v" "DELETE FROM bench_$v") "
    done
done
declare -A result
for key in "${!samples[@]}"; do
    result[$key]="$(tr ' ' '\n' <<<"${samples[$key]}" | grep . | median)"
done

# pgbench: transactions per second of one single-statement script.
pgbench_tps() {
    local script
    script="$(mktemp)"
    printf '%s\n' "$@" >"$script"
    chmod 644 "$script"
    "$PG_BIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$script" bench 2>/dev/null \
        | sed -nE 's/^tps = ([0-9.]+) .*/\1/p'
    rm -f "$script"
}
for v in "${PGBENCH_VARIANTS[@]}"; do
    "${psql[@]}" -c "INSERT INTO bench_$v SELECT * FROM bench_source" -c "VACUUM ANALYZE bench_$v" >/dev/null
done
for run in $(seq "$PGBENCH_RUNS"); do
    say "pgbench single-row UPDATE and INSERT, $CLIENTS clients, ${DURATION}s each: run $run of $PGBENCH_RUNS"
    for v in "${PGBENCH_VARIANTS[@]}"; do
        "${psql[@]}" -c "CHECKPOINT" >/dev/null
        samples[pgupdate_$v]+="$(pgbench_tps "\\set id random(1, $ROWS)" "UPDATE bench_$v SET saldo = saldo + 1 WHERE id = :id;") "
        samples[pginsert_$v]+="$(pgbench_tps "INSERT INTO bench_$v VALUES (nextval('bench_ids'), 'e0000000-0000-4000-8000-00000000000a', 'nuevo', 1, now());") "
    done
done
for key in pgupdate_bare pgupdate_plpgsql pgupdate_audit pginsert_bare pginsert_plpgsql pginsert_audit; do
    result[$key]="$(tr ' ' '\n' <<<"${samples[$key]}" | grep . | median)"
done

# Peak private memory of the backend running one statement: RssAnon sampled
# from /proc while it runs. Prints "before peak" in MB.
memory_of() {
    local sql="$1" pid peak before kb
    "${psql[@]}" -c "SET application_name = 'bench_memory'" -c "SELECT pg_sleep(1)" -c "$sql" >/dev/null &
    local client=$!
    pid=""
    while [ -z "$pid" ]; do
        pid="$("${psql[@]}" -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_memory'")"
    done
    before="$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status")"
    peak="$before"
    while kill -0 "$client" 2>/dev/null; do
        kb="$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
        [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak="$kb"
        sleep 0.05
    done
    wait "$client"
    echo "$((before / 1024)) $((peak / 1024))"
}
if [ "$MEMORY_ROWS" -gt 0 ]; then
    say "memory: UPDATE of $MEMORY_ROWS rows, bare and audited (row and statement capture)"
    "${psql[@]}" <<SQL
CREATE TABLE bench_memory_bare (LIKE bench_source INCLUDING ALL);
INSERT INTO bench_memory_bare SELECT g, 'e0000000-0000-4000-8000-00000000000a', 'cliente ' || g, g % 1000, now() FROM generate_series(1, $MEMORY_ROWS) g;
CREATE TABLE bench_memory_audit (LIKE bench_source INCLUDING ALL);
INSERT INTO bench_memory_audit SELECT * FROM bench_memory_bare;
SELECT audit.auditar('bench_memory_audit');
CREATE TABLE bench_memory_sentencia (LIKE bench_source INCLUDING ALL);
INSERT INTO bench_memory_sentencia SELECT * FROM bench_memory_bare;
SELECT audit.auditar('bench_memory_sentencia', '{"captura": "sentencia"}');
VACUUM ANALYZE;
SQL
    read -r mem_bare_before mem_bare_peak <<<"$(memory_of "UPDATE bench_memory_bare SET saldo = saldo + 1")"
    read -r mem_audit_before mem_audit_peak <<<"$(memory_of "UPDATE bench_memory_audit SET saldo = saldo + 1")"
    read -r mem_sentencia_before mem_sentencia_peak <<<"$(memory_of "UPDATE bench_memory_sentencia SET saldo = saldo + 1")"
    events_of() { "${psql[@]}" -At -c "SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = '$1' AND accion = 'UPDATE'"; }
    memory_events="$(events_of bench_memory_audit)"
    memory_events_sentencia="$(events_of bench_memory_sentencia)"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
line() {
    local label="$1" key="$2" sentencia="-" sentencia_ratio="-"
    if [ -n "${result[${key}_sentencia]:-}" ]; then
        sentencia="$(printf '%.0f' "${result[${key}_sentencia]}")"
        sentencia_ratio="$(ratio "${result[${key}_sentencia]}" "${result[${key}_bare]}")"
    fi
    printf '%-34s %10.0f %10.0f %10.0f %10s   %8s %8s %9s\n' "$label" "${result[${key}_bare]}" "${result[${key}_plpgsql]}" "${result[${key}_audit]}" "$sentencia" \
        "$(ratio "${result[${key}_plpgsql]}" "${result[${key}_bare]}")" "$(ratio "${result[${key}_audit]}" "${result[${key}_bare]}")" "$sentencia_ratio"
}
say "results ($(nproc) cores, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), medians; ratios to bare)"
printf '%-34s %10s %10s %10s %10s   %8s %8s %9s\n' "" bare plpgsql audit sentencia plpgsql audit sentencia
line "bulk INSERT $ROWS rows (ms)" insert
line "bulk UPDATE $ROWS rows (ms)" update
line "bulk DELETE $ROWS rows (ms)" delete
line "pgbench UPDATE, $CLIENTS clients (tps)" pgupdate
line "pgbench INSERT, $CLIENTS clients (tps)" pginsert
for op in insert update delete; do
    printf '  bulk %-6s audit is %s faster than the PL/pgSQL reference (sentencia %s)\n' "$op" \
        "$(ratio "${result[${op}_plpgsql]}" "${result[${op}_audit]}")" "$(ratio "${result[${op}_plpgsql]}" "${result[${op}_sentencia]}")"
done
if [ "$MEMORY_ROWS" -gt 0 ]; then
    printf 'UPDATE of %s rows, backend private memory (RssAnon): bare %s -> %s MB peak; audit %s -> %s MB peak (%s events); sentencia %s -> %s MB peak (%s events)\n' \
        "$MEMORY_ROWS" "$mem_bare_before" "$mem_bare_peak" "$mem_audit_before" "$mem_audit_peak" "$memory_events" \
        "$mem_sentencia_before" "$mem_sentencia_peak" "$memory_events_sentencia"
fi
