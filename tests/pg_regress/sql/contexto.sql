-- audit.establecer_contexto: transaction-scoped metadata merged into every
-- event of the transaction; gone at commit, rollback, and rollback to a
-- savepoint taken before it.
CREATE TABLE pedidos (id int PRIMARY KEY, estado text);
SELECT audit.auditar('pedidos');

BEGIN;
SELECT audit.establecer_contexto('{"motivo": "cierre de mes", "tipo_operacion": "AJUSTE"}');
INSERT INTO pedidos VALUES (1, 'abierto');
-- Merged: new keys added, existing keys replaced.
SELECT audit.establecer_contexto('{"motivo": "corrección", "ticket": 4711, "detalle": {"origen": "soporte", "prioridad": [1, 2.50]}}');
UPDATE pedidos SET estado = 'cerrado' WHERE id = 1;
SAVEPOINT s1;
SELECT audit.establecer_contexto('{"temporal": true}');
ROLLBACK TO SAVEPOINT s1;
DELETE FROM pedidos WHERE id = 1;
COMMIT;
SELECT accion, metadata FROM audit.historial_cambios WHERE tabla_afectada = 'pedidos' AND accion <> 'DDL' ORDER BY id;

-- Gone after commit.
INSERT INTO pedidos VALUES (2, 'nuevo');
SELECT metadata FROM audit.historial_cambios WHERE tabla_afectada = 'pedidos' ORDER BY id DESC LIMIT 1;
-- Gone after rollback.
BEGIN;
SELECT audit.establecer_contexto('{"motivo": "descartado"}');
ROLLBACK;
SHOW audit.contexto;

-- Bad input.
SELECT audit.establecer_contexto(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT audit.establecer_contexto('[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.establecer_contexto('"texto"');
\echo :LAST_ERROR_SQLSTATE
SELECT audit.establecer_contexto(jsonb_build_object('grande', repeat('x', 70000)));
\echo :LAST_ERROR_SQLSTATE
SET audit.contexto = '{"sin cerrar": 1';
\echo :LAST_ERROR_SQLSTATE
SET audit.contexto = '[]';
\echo :LAST_ERROR_SQLSTATE
SET audit.contexto = '{"nul": "a\u0000b"}';
\echo :LAST_ERROR_SQLSTATE
-- tipo_operacion is indexed and names a kind of operation: a string of at
-- most 256 bytes. A longer one made every write of the transaction fail
-- with the index's own error (and stopped capture from the WAL for good).
SELECT audit.establecer_contexto(jsonb_build_object('tipo_operacion', repeat('x', 257)));
\echo :LAST_ERROR_SQLSTATE
SELECT audit.establecer_contexto('{"tipo_operacion": {"anidado": true}}');
\echo :LAST_ERROR_SQLSTATE
SET audit.contexto = '{"tipo_operacion": 12}';
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento(repeat('x', 257));
\echo :LAST_ERROR_SQLSTATE
SELECT audit.registrar_evento(repeat('x', 256)) IS NOT NULL AS registrado;
SHOW audit.contexto;
DROP TABLE pedidos;
