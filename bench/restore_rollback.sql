-- One run of the module rollback benchmark (bench/restore_rollback.sh):
-- a mark, 10,000 changed rows across the module's three tables, a preview
-- and the rollback, timed on the server; checks that the tables are back
-- exactly as at the mark. Variables: run (run number).
SELECT md5(string_agg(f, ',' ORDER BY f)) AS antes FROM (
    SELECT to_jsonb(c)::text AS f FROM rb_clientes c UNION ALL
    SELECT to_jsonb(p)::text FROM rb_pedidos p UNION ALL
    SELECT to_jsonb(l)::text FROM rb_lineas l) s \gset
SELECT audit.crear_marca('rb', 'run' || :run) > 0 AS marca \gset
BEGIN;
-- clientes: 2,000 updated, 500 inserted, 500 deleted (ones without orders)
UPDATE rb_clientes SET nombre = nombre || '*' WHERE id <= 2000;
INSERT INTO rb_clientes SELECT 100000 + g, 'nuevo ' || g, 'n' || g || '@x' FROM generate_series(1, 500) g;
DELETE FROM rb_clientes WHERE id > 4500 AND id <= 5000;
-- pedidos: 3,000 updated, 1,000 inserted (for the new clientes)
UPDATE rb_pedidos SET total = total + 1 WHERE id <= 3000;
INSERT INTO rb_pedidos SELECT 100000 + g, 100000 + (g % 500) + 1, g FROM generate_series(1, 1000) g;
-- lineas: 2,000 updated, 1,000 deleted
UPDATE rb_lineas SET cantidad = cantidad + 1 WHERE pedido_id <= 2000 AND n = 1;
DELETE FROM rb_lineas WHERE pedido_id > 8000 AND pedido_id <= 9000 AND n = 2;
COMMIT;
SELECT count(*) AS cambiadas FROM audit.historial_cambios h, audit.marcas m
 WHERE m.modulo = 'rb' AND m.nombre = 'run' || :run AND h.id > m.ultimo_id AND h.tabla_afectada LIKE 'rb_%' \gset

SELECT clock_timestamp() AS t0 \gset
SELECT audit.revertir_modulo('rb', 'run' || :run, simular => true) ->> 'aplicado' AS simulado_aplicado \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000) AS ms_simular \gset
SELECT clock_timestamp() AS t0 \gset
SELECT audit.revertir_modulo('rb', 'run' || :run) ->> 'aplicado' AS aplicado \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0') * 1000) AS ms_revertir \gset

SELECT md5(string_agg(f, ',' ORDER BY f)) AS despues FROM (
    SELECT to_jsonb(c)::text AS f FROM rb_clientes c UNION ALL
    SELECT to_jsonb(p)::text FROM rb_pedidos p UNION ALL
    SELECT to_jsonb(l)::text FROM rb_lineas l) s \gset
\echo :run :cambiadas :ms_simular :ms_revertir :aplicado :antes :despues
