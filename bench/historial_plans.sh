#!/usr/bin/env bash
# Read benchmark: the plans of audit.get_historial_cambios over a large log.
# Loads EVENTOS synthetic events over MESES months (bench/historial_datos.sql),
# then, for each single filter and the common combinations, reads the first
# page and a later one and prints rows, buffers, discarded rows and times
# (bench/historial_plans.sql). The data is loaded straight into the log, so
# EVENTOS=10000000 takes a few minutes and about 12 GB of disk.
source "$(dirname "$0")/lib.sh"

EVENTOS="${EVENTOS:-1000000}"
MESES="${MESES:-12}"

bench_cluster shared_buffers=2GB max_wal_size=16GB checkpoint_timeout=30min maintenance_work_mem=1GB
"${psql[@]}" -c "CREATE EXTENSION audit"

say "loading $EVENTOS events over $MESES months"
start=$(date +%s)
"${psql[@]}" -v eventos="$EVENTOS" -v meses="$MESES" -f bench/historial_datos.sql
say "loaded in $(( $(date +%s) - start )) s; log size: $("${psql[@]}" -At -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.historial_cambios'::regclass")"

# Warm the cache the way a live system is: the recent index pages are hot.
"${psql[@]}" -c "SELECT count(*) FROM audit.get_historial_cambios('{}')" >/dev/null

say "pages of audit.get_historial_cambios ($EVENTOS events, PostgreSQL $("${psql[@]}" -At -c 'SHOW server_version'), $(nproc) cores)"
"${psql[@]}" -f bench/historial_plans.sql
