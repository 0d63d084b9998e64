-- DROP EXTENSION audit removes the extension's objects and the capture
-- triggers it attached (also ones attached by hand); audited tables stay and
-- keep working. The extension can then be installed again.
CREATE DATABASE audit_drop;
\c audit_drop
CREATE EXTENSION audit;
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY);
CREATE TABLE p (id int, r int, PRIMARY KEY (id, r)) PARTITION BY RANGE (r);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
SELECT audit.auditar('a');
CREATE TRIGGER a_mano AFTER INSERT OR UPDATE OR DELETE ON b FOR EACH ROW EXECUTE FUNCTION audit.registrar_cambio();
SELECT audit.auditar('p');
SELECT count(*) AS triggers FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('a'::regclass, 'b'::regclass, 'p'::regclass, 'p1'::regclass);
DROP EXTENSION audit;
SELECT count(*) AS triggers FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('a'::regclass, 'b'::regclass, 'p'::regclass, 'p1'::regclass);
SELECT count(*) AS objetos_en_audit FROM pg_class WHERE relnamespace = 'audit'::regnamespace;
INSERT INTO a VALUES (1);
INSERT INTO b VALUES (1);
INSERT INTO p VALUES (1, 1);
TRUNCATE a, b, p;
-- The schema the install created is left empty, and installing again works.
CREATE EXTENSION audit;
SELECT count(*) AS auditadas FROM audit.tablas_auditadas;
\c audit_regress
DROP DATABASE audit_drop;
