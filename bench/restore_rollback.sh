#!/usr/bin/env bash
# Module rollback benchmark (issue: ≤ 1 s for 10,000 changed rows across 3
# tables). Builds the extension in release, starts a throwaway cluster,
# creates three audited tables with foreign keys (5,000 clientes, 10,000
# pedidos, 20,000 lineas) in a module, then RUNS times: sets a mark, changes
# 10,000 rows (updates, inserts and deletes in all three tables), times the
# preview and the rollback on the server, and checks the tables are back
# exactly as at the mark. Prints each run and the medians.
source "$(dirname "$0")/lib.sh"

RUNS="${RUNS:-5}"

bench_cluster shared_buffers=512MB
"${psql[@]}" >/dev/null <<'SQL'
CREATE EXTENSION audit;
CREATE TABLE rb_clientes (id int PRIMARY KEY, nombre text NOT NULL, email text UNIQUE);
CREATE TABLE rb_pedidos (id int PRIMARY KEY, cliente_id int NOT NULL REFERENCES rb_clientes, total numeric NOT NULL);
CREATE INDEX ON rb_pedidos (cliente_id);
CREATE TABLE rb_lineas (pedido_id int NOT NULL REFERENCES rb_pedidos, n int NOT NULL, cantidad int NOT NULL, PRIMARY KEY (pedido_id, n));
INSERT INTO rb_clientes SELECT g, 'cliente ' || g, 'c' || g || '@x' FROM generate_series(1, 5000) g;
INSERT INTO rb_pedidos SELECT g, (g % 4500) + 1, g FROM generate_series(1, 10000) g;
INSERT INTO rb_lineas SELECT p, n, 1 FROM generate_series(1, 10000) p, generate_series(1, 2) n;
SELECT audit.auditar('rb_clientes'), audit.auditar('rb_pedidos'), audit.auditar('rb_lineas');
SELECT audit.crear_modulo('rb', ARRAY['rb_clientes', 'rb_pedidos', 'rb_lineas']::regclass[]);
VACUUM ANALYZE;
SQL

say "module rollback: 10,000 changed rows across 3 tables (PostgreSQL $("${psql[@]}" -At -c 'SHOW server_version'), $(nproc) cores)"
printf '%-4s %-10s %-12s %-12s %-9s %s\n' run changed preview_ms rollback_ms applied same_as_mark
results=()
for run in $(seq 1 "$RUNS"); do
    line="$("${psql[@]}" -v run="$run" -f bench/restore_rollback.sql)"
    read -r r changed ms_preview ms_rollback applied before after <<<"$line"
    same=$([ "$before" = "$after" ] && echo yes || echo NO)
    printf '%-4s %-10s %-12s %-12s %-9s %s\n' "$r" "$changed" "$ms_preview" "$ms_rollback" "$applied" "$same"
    [ "$applied" = true ] && [ "$same" = yes ] || { echo "rollback did not restore the mark's state" >&2; exit 1; }
    results+=("$ms_preview $ms_rollback")
done
echo "median preview:  $(printf '%s\n' "${results[@]}" | awk '{print $1}' | median) ms"
echo "median rollback: $(printf '%s\n' "${results[@]}" | awk '{print $2}' | median) ms"
