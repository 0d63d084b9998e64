-- CREATE EXTENSION refuses a schema "audit" it cannot trust.
CREATE DATABASE audit_guarda;
\c audit_guarda
CREATE ROLE intruso NOLOGIN;
-- A schema owned by an ordinary role.
CREATE SCHEMA audit AUTHORIZATION intruso;
CREATE EXTENSION audit;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA audit;
-- A schema that already holds objects (another audit tool uses this name).
CREATE SCHEMA audit;
CREATE TABLE audit.record_version (id bigserial PRIMARY KEY);
CREATE EXTENSION audit;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA audit CASCADE;
-- An empty schema owned by a superuser (what pg_dump recreates before the
-- extension) is accepted.
CREATE SCHEMA audit;
CREATE EXTENSION audit;
SELECT extname, extversion IS NOT NULL AS instalada FROM pg_extension WHERE extname = 'audit';
\c audit_regress
DROP DATABASE audit_guarda;
DROP ROLE intruso;
