-- Schemas that are not on the search path and quoted, mixed-case names.
CREATE SCHEMA "Ventas Norte";
CREATE TABLE "Ventas Norte"."Pedidos ""Especiales""" ("ID" int PRIMARY KEY, "Cliente Nombre" text, "empresa_id" uuid);
SHOW search_path;
SELECT audit.auditar('"Ventas Norte"."Pedidos ""Especiales"""', '{"excluir_columnas": ["Cliente Nombre"]}');
SELECT tabla, esquema, nombre, excluir_columnas, columnas_clave, triggers FROM audit.tablas_auditadas WHERE esquema = 'Ventas Norte';
INSERT INTO "Ventas Norte"."Pedidos ""Especiales""" VALUES (1, 'Zoë', 'e0000000-0000-0000-0000-000000000001');
UPDATE "Ventas Norte"."Pedidos ""Especiales""" SET "Cliente Nombre" = 'Zoé';
UPDATE "Ventas Norte"."Pedidos ""Especiales""" SET "ID" = 2;
TRUNCATE "Ventas Norte"."Pedidos ""Especiales""";
SELECT accion, esquema, tabla_afectada, registro_pk, datos_nuevos, campos_modificados
  FROM audit.historial_cambios WHERE esquema = 'Ventas Norte' ORDER BY id;
SELECT audit.dejar_de_auditar('"Ventas Norte"."Pedidos ""Especiales"""');
DROP SCHEMA "Ventas Norte" CASCADE;
