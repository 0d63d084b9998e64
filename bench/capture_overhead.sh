#!/usr/bin/env bash
# Capture overhead, in one run on one cluster (each variant in a database of
# its own, with its own log): the same workloads on a bare
# table, on a table audited by a PL/pgSQL trigger of the same design
# (plpgsql_reference.sql), on a table audited by the extension (row capture,
# the default), on a table captured from the WAL ("captura": "wal") and, for
# the bulk statements and memory, on a table audited with "captura":
# "sentencia" (statement triggers with transition tables). The cluster runs
# with wal_level = logical and the library preloaded, for every variant.
#   drain:   for the WAL variant, also the time from the end of each bulk
#            statement until its events are all in the log
#            (audit.esperar_captura), and the capture worker's events per
#            second; the writer's figures never include it. After each WAL
#            statement or pgbench run the drain finishes before the next
#            variant runs.
#   bulk:    INSERT, UPDATE and DELETE of every row of a ROWS-row table, one
#            statement each (milliseconds, median of RUNS; the variants take
#            turns within each run, so drift hits all three alike)
#   pgbench: single-row UPDATE by random id and single-row INSERT, CLIENTS
#            clients, DURATION s each (tps, median of PGBENCH_RUNS; each
#            variant's run next to a bare run, its ratio the median of the
#            ratios of those pairs)
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
VARIANTS=(bare plpgsql audit sentencia wal)
# pgbench's single-row statements: the row path and the WAL; "walsolo" is
# the WAL variant again with its capture worker paused (SIGSTOP) for the
# run and drained after it: what the writers pay alone, apart from the
# worker's own writes to the log sharing the machine with them.
PGBENCH_VARIANTS=(plpgsql audit wal walsolo)

bench_cluster shared_buffers=1GB max_wal_size=16GB checkpoint_timeout=30min \
    wal_level=logical shared_preload_libraries=audit

# Both audited variants read these claims (PGOPTIONS splits on spaces: none here).
CLAIMS='{"sub":"a1111111-1111-4111-8111-111111111111","email":"bench@example.com","app_metadata":{"empresa_id":"e0000000-0000-4000-8000-00000000000a"}}'
export PGOPTIONS="-c request.jwt.claims=$CLAIMS"

# Each variant in a database of its own (bench_VARIANT), with its own log:
# one shared log held the events of the three audited variants (three times
# the PL/pgSQL reference's, and its random record index as much larger), and
# the capture worker decoded every variant's changes.
say "creating databases bench_bare, bench_plpgsql, bench_audit, bench_sentencia and bench_wal ($ROWS rows of source data each)"
for v in "${VARIANTS[@]}"; do
    "${psql[@]}" -c "CREATE DATABASE bench_$v"
    case $v in
        plpgsql) psql_in "$v" -f bench/plpgsql_reference.sql ;;
        audit | sentencia | wal) psql_in "$v" -c "CREATE EXTENSION audit" ;;
    esac
    psql_in "$v" <<SQL
CREATE TABLE bench_source (id int PRIMARY KEY, empresa_id uuid NOT NULL, nombre text NOT NULL, saldo numeric(12,2) NOT NULL, actualizado timestamptz NOT NULL);
INSERT INTO bench_source SELECT g, 'e0000000-0000-4000-8000-00000000000a', 'cliente ' || g, g % 1000, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, $ROWS) g;
CREATE TABLE bench_$v (LIKE bench_source INCLUDING ALL);
-- pgbench INSERT takes its ids from here, above the loaded ones.
CREATE SEQUENCE bench_ids START $((ROWS + 1));
SQL
    # (auditar with "wal" in a transaction of its own: it creates the
    # database's capture slot.)
    case $v in
        plpgsql) psql_in "$v" -c "CREATE TRIGGER ref_capture AFTER INSERT OR UPDATE OR DELETE ON bench_plpgsql FOR EACH ROW EXECUTE FUNCTION ref.registrar_cambio()" ;;
        audit) psql_in "$v" -c "SELECT audit.auditar('bench_audit')" >/dev/null ;;
        sentencia) psql_in "$v" -c "SELECT audit.auditar('bench_sentencia', '{\"captura\": \"sentencia\"}')" >/dev/null ;;
        wal) psql_in "$v" -c "SELECT audit.auditar('bench_wal', '{\"captura\": \"wal\"}')" >/dev/null ;;
    esac
    psql_in "$v" -c "VACUUM ANALYZE"
done

# drained: milliseconds until the capture from the WAL has applied everything
# committed so far.
drained() { timing_ms wal "SELECT audit.esperar_captura('1 hour');"; }

declare -A samples pair_tps
for run in $(seq "$RUNS"); do
    say "bulk INSERT, UPDATE, DELETE of $ROWS rows: run $run of $RUNS"
    # Each run ends with the tables empty again (the DELETE), as they start.
    for v in "${VARIANTS[@]}"; do
        for op in insert update delete; do
            case $op in
                insert) sql="INSERT INTO bench_$v SELECT * FROM bench_source" ;;
                update) sql="UPDATE bench_$v SET saldo = saldo + 1" ;;
                delete) sql="DELETE FROM bench_$v" ;;
            esac
            samples[${op}_$v]+="$(timed "$v" "bench_$v" "$sql;") "
            if [ "$v" = wal ]; then samples[drain_$op]+="$(drained) "; fi
        done
    done
done
for v in bare plpgsql audit wal; do
    psql_in "$v" -c "INSERT INTO bench_$v SELECT * FROM bench_source" -c "VACUUM ANALYZE bench_$v" >/dev/null
done
# pause_worker STOP|CONT: the capture worker of database bench_wal.
pause_worker() {
    local pid
    pid="$(psql_in wal -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'audit capture worker' AND datname = current_database()")"
    [ -n "$pid" ] && $SUDO kill "-$1" "$pid"
}
# pgbench_run VARIANT OP: one pgbench run (after a checkpoint); sets tps and
# adds its samples (tps, and the WAL written per transaction, the capture
# worker's included).
pgbench_run() {
    local v="$1" op="$2" t="$1" start bytes
    [ "$v" = walsolo ] && t=wal
    psql_in "$t" -c "CHECKPOINT" >/dev/null
    start="$(psql_in "$t" -At -c "SELECT pg_current_wal_insert_lsn()")"
    [ "$v" = walsolo ] && pause_worker STOP
    case $op in
        update) tps="$(pgbench_tps "$t" "\\set id random(1, $ROWS)" "UPDATE bench_$t SET saldo = saldo + 1 WHERE id = :id;")" ;;
        insert) tps="$(pgbench_tps "$t" "INSERT INTO bench_$t VALUES (nextval('bench_ids'), 'e0000000-0000-4000-8000-00000000000a', 'nuevo', 1, now());")" ;;
    esac
    samples[pg${op}_$v]+="$tps "
    [ "$v" = walsolo ] && pause_worker CONT
    [ "$t" = wal ] && drained >/dev/null
    bytes="$(psql_in "$t" -At -c "SELECT pg_current_wal_insert_lsn() - '$start'")"
    samples[walpg${op}_$v]+="$(awk -v b="$bytes" -v tps="$tps" -v d="$DURATION" 'BEGIN { printf "%.0f", b / (tps * d) }') "
    # The run's dead rows and new events are vacuumed here, untimed, as the
    # bulk statements' are: left to autovacuum, that work would land in
    # whichever run comes next, often the bare run it is compared with.
    psql_in "$t" -c "VACUUM ANALYZE" >/dev/null
}
# Each variant runs next to a bare run of its own (in turns: bare first in
# one pair, second in the next), and its ratio is the median of those pairs'
# ratios. This machine's speed drifts by 20-40% over minutes (bare measured
# 5,484 tps in one run of this benchmark and 8,043 in the next): a ratio
# between runs minutes apart measured the drift as much as the capture.
for run in $(seq "$PGBENCH_RUNS"); do
    say "pgbench single-row UPDATE and INSERT, $CLIENTS clients, ${DURATION}s each, each variant next to a bare run: run $run of $PGBENCH_RUNS"
    pair=0
    for v in "${PGBENCH_VARIANTS[@]}"; do
        for op in update insert; do
            pair=$((pair + 1))
            if (((run + pair) % 2)); then order=(bare "$v"); else order=("$v" bare); fi
            for w in "${order[@]}"; do
                pgbench_run "$w" "$op"
                pair_tps[$w]="$tps"
            done
            samples[pg${op}_pair_$v]+="$(awk -v a="${pair_tps[$v]}" -v b="${pair_tps[bare]}" 'BEGIN { printf "%.3f", a / b }') "
        done
    done
done
# Every sample's median, bulk and pgbench alike.
declare -A result
for key in "${!samples[@]}"; do
    result[$key]="$(tr ' ' '\n' <<<"${samples[$key]}" | grep . | median)"
done

# Peak private memory of the backend running one statement: RssAnon sampled
# from /proc while it runs. Prints "before peak" in MB.
memory_of() {
    local sql="$1" pid peak before kb
    psql_in audit -c "SET application_name = 'bench_memory'" -c "SELECT pg_sleep(1)" -c "$sql" >/dev/null &
    local client=$!
    pid=""
    while [ -z "$pid" ]; do
        pid="$(psql_in audit -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_memory'")"
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
    psql_in audit <<SQL
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
    events_of() { psql_in audit -At -c "SELECT count(*) FROM audit.historial_cambios WHERE tabla_afectada = '$1' AND accion = 'UPDATE'"; }
    memory_events="$(events_of bench_memory_audit)"
    memory_events_sentencia="$(events_of bench_memory_sentencia)"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# value KEY / ratio KEY: a variant's median and its ratio to bare, "-" when
# the variant does not run that workload.
value() { if [ -n "${result[$1]:-}" ]; then printf '%.0f' "${result[$1]}"; else printf -- '-'; fi; }
# (pgbench's: the median of the ratios of the variant's runs to the bare
# runs next to them.)
ratio_to_bare() {
    if [ -n "${result[${1}_pair_$2]:-}" ]; then
        printf '%.2fx' "${result[${1}_pair_$2]}"
    elif [ -n "${result[${1}_$2]:-}" ]; then
        ratio "${result[${1}_$2]}" "${result[${1}_bare]}"
    else
        printf -- '-'
    fi
}
line() {
    local label="$1" key="$2"
    printf '%-34s %9s %9s %9s %9s %9s   %8s %8s %9s %8s\n' "$label" \
        "$(value "${key}_bare")" "$(value "${key}_plpgsql")" "$(value "${key}_audit")" "$(value "${key}_sentencia")" "$(value "${key}_wal")" \
        "$(ratio_to_bare "$key" plpgsql)" "$(ratio_to_bare "$key" audit)" "$(ratio_to_bare "$key" sentencia)" "$(ratio_to_bare "$key" wal)"
}
say "results ($(nproc) cores, PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), wal_level = logical, medians; ratios to bare)"
printf '%-34s %9s %9s %9s %9s %9s   %8s %8s %9s %8s\n' "" bare plpgsql audit sentencia wal plpgsql audit sentencia wal
line "bulk INSERT $ROWS rows (ms)" insert
line "bulk UPDATE $ROWS rows (ms)" update
line "bulk DELETE $ROWS rows (ms)" delete
line "pgbench UPDATE, $CLIENTS clients (tps)" pgupdate
line "pgbench INSERT, $CLIENTS clients (tps)" pginsert
for op in insert update delete; do
    printf '  bulk %-6s audit is %s faster than the PL/pgSQL reference (sentencia %s)\n' "$op" \
        "$(ratio "${result[${op}_plpgsql]}" "${result[${op}_audit]}")" "$(ratio "${result[${op}_plpgsql]}" "${result[${op}_sentencia]}")"
done
for op in insert update delete; do
    printf '  wal: drain of the bulk %-6s %8.0f ms after the statement (%s of the statement mode'"'"'s own time; %.0f events/s)\n' "$op" \
        "${result[drain_$op]}" "$(ratio "${result[drain_$op]}" "${result[${op}_sentencia]}")" \
        "$(awk -v n="$ROWS" -v ms="${result[drain_$op]}" 'BEGIN { print (ms > 0 ? n / (ms / 1000) : 0) }')"
done
for op in update insert; do
    printf '  wal: pgbench %-6s with the capture worker paused during the run: %8.0f tps (%s of bare; with the worker applying: %s)\n' "$op" \
        "${result[pg${op}_walsolo]}" "$(ratio_to_bare "pg$op" walsolo)" "$(ratio_to_bare "pg$op" wal)"
done
for op in update insert; do
    printf '  pgbench %-6s each run against the bare run next to it:' "$op"
    for v in "${PGBENCH_VARIANTS[@]}"; do printf ' %s %s;' "$v" "$(xargs <<<"${samples[pg${op}_pair_$v]}")"; done
    printf '\n'
done
printf '  WAL per pgbench UPDATE transaction, the capture worker'"'"'s included (bytes): bare %s, plpgsql %s, audit %s, wal %s\n' \
    "$(value walpgupdate_bare)" "$(value walpgupdate_plpgsql)" "$(value walpgupdate_audit)" "$(value walpgupdate_wal)"
if [ "$MEMORY_ROWS" -gt 0 ]; then
    printf 'UPDATE of %s rows, backend private memory (RssAnon): bare %s -> %s MB peak; audit %s -> %s MB peak (%s events); sentencia %s -> %s MB peak (%s events)\n' \
        "$MEMORY_ROWS" "$mem_bare_before" "$mem_bare_peak" "$mem_audit_before" "$mem_audit_peak" "$memory_events" \
        "$mem_sentencia_before" "$mem_sentencia_peak" "$memory_events_sentencia"
fi
