-- The log is partitioned by month (UTC) with a default partition. Events of
-- a month without a partition wait in the default partition and move into
-- their partition when it is created.
CREATE DATABASE audit_particiones;
\c audit_particiones
CREATE EXTENSION audit;
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS limites
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'audit.historial_cambios'::regclass ORDER BY 1;

-- No table audited yet: an application event goes to the default partition.
SELECT audit.registrar_evento('ANTES_DE_AUDITAR') AS evento \gset
SELECT tableoid::regclass FROM audit.historial_cambios WHERE id = :evento;

-- Auditing a table creates this month's and the next two months'
-- partitions, and the partition of the waiting event's month (the same one,
-- unless the month ended in between), and moves the event there (same id,
-- same content). Checked in auditar's transaction, whose now() it used.
CREATE TABLE t (id int PRIMARY KEY);
BEGIN;
SELECT audit.auditar('t');
SELECT array_agg(c.relname::text ORDER BY c.relname) = (
         SELECT array_agg(DISTINCT m.nombre ORDER BY m.nombre) FROM (
             SELECT 'historial_cambios_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i), 'YYYY_MM')
               FROM generate_series(0, 2) i
             UNION ALL
             SELECT 'historial_cambios_' || to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY_MM')
               FROM audit.historial_cambios WHERE id = :evento) m(nombre)
       ) AS particiones_mensuales_esperadas
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'audit.historial_cambios'::regclass AND i.inhrelid <> 'audit.historial_cambios_default'::regclass;
-- Running it again creates nothing (in the same transaction: a month may
-- begin between two transactions, and the test clock makes one begin).
SELECT audit._asegurar_particiones() AS de_nuevo;
COMMIT;
SELECT tableoid::regclass = format('audit.historial_cambios_%s', to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY_MM'))::regclass AS en_su_mes,
       metadata
  FROM audit.historial_cambios WHERE id = :evento;
SELECT count(*) AS en_default FROM audit.historial_cambios_default;
INSERT INTO t VALUES (1);
SELECT tableoid::regclass = format('audit.historial_cambios_%s', to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY_MM'))::regclass AS en_su_mes
  FROM audit.historial_cambios WHERE accion = 'INSERT';

-- Every partition, present and future, carries the append-only guards.
SELECT count(*) AS particiones,
       count(*) FILTER (WHERE guarda_filas AND guarda_truncate) AS con_ambas_guardas
  FROM (SELECT c.relname,
               bool_or(tg.tgname = 'historial_cambios_solo_insercion' AND tg.tgenabled = 'A') AS guarda_filas,
               bool_or(tg.tgname = 'historial_cambios_sin_truncate' AND tg.tgenabled = 'A') AS guarda_truncate
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_trigger tg ON tg.tgrelid = c.oid
         WHERE i.inhparent = 'audit.historial_cambios'::regclass
         GROUP BY c.relname) p;
-- Indexes follow the parent's.
SELECT count(DISTINCT indexrelid) AS indices FROM pg_index
 WHERE indrelid = (SELECT tableoid FROM audit.historial_cambios WHERE accion = 'INSERT');

\c audit_regress
DROP DATABASE audit_particiones;
