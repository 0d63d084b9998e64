-- audit.listar_tipos_config() and audit.listar_modulos(): the configuration
-- types, and the modules with their marks, for administration screens
-- (PostgREST's RPC reaches functions, not tables; the console uses both).
\set VERBOSITY terse
SELECT tipo, origen, campos_secretos FROM audit.listar_tipos_config() WHERE origen = 'predefinido';
SELECT (SELECT count(*) FROM audit.listar_tipos_config()) = (SELECT count(*) FROM audit.tipos_config) AS todos;

CREATE TABLE al_a (id int PRIMARY KEY, v int);
CREATE SCHEMA al_s;
CREATE TABLE al_s.b (id int PRIMARY KEY);
SELECT audit.auditar('al_a');
SELECT audit.auditar('al_s.b');
SELECT audit.crear_modulo('al_modulo', ARRAY['al_s.b', 'al_a']::regclass[]);
-- A module without marks: an empty list; tables named with their schema.
SELECT nombre, tablas, marcas FROM audit.listar_modulos() WHERE nombre = 'al_modulo';
SELECT audit.crear_marca('al_modulo', 'primera') > 0 AS primera;
SELECT audit.crear_marca('al_modulo', 'segunda') > 0 AS segunda;
-- Marks newest first, each with its id, instant and author.
SELECT nombre, jsonb_path_query_array(marcas, '$[*].nombre') AS marcas,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(marcas -> 0) k) AS claves
  FROM audit.listar_modulos() WHERE nombre = 'al_modulo';

-- Any role may call them, as the tables are readable by everyone.
CREATE ROLE al_cualquiera;
SET ROLE al_cualquiera;
SELECT count(*) > 0 AS ve_tipos FROM audit.listar_tipos_config();
SELECT count(*) AS ve_el_modulo FROM audit.listar_modulos() WHERE nombre = 'al_modulo';
RESET ROLE;
DROP ROLE al_cualquiera;
