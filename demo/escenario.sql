-- The demo scenario: two users of two tenants change data through JWT claims
-- (as PostgREST sets them), then the history is read as each side sees it.
\set ON_ERROR_STOP on
\pset footer off
\set QUIET on

\echo
\echo '== 1. Juan Pérez (Ferretería Norte) works through the API'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "email": "juan@ferreteria-norte.example", "user_metadata": {"full_name": "Juan Pérez"}, "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000a"}}', true) \g /dev/null
SELECT audit.establecer_contexto('{"motivo": "alta de catálogo", "origen": "panel web"}') \g /dev/null
INSERT INTO productos (id, empresa_id, sku, nombre, precio, stock) VALUES
    ('b0000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-00000000000a', 'LAP-001', 'Laptop Gamer', 1500.00, 10),
    ('b0000000-0000-4000-8000-000000000002', 'e0000000-0000-4000-8000-00000000000a', 'MOU-001', 'Mouse inalámbrico', 25.50, 100);
COMMIT;
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "email": "juan@ferreteria-norte.example", "user_metadata": {"full_name": "Juan Pérez"}, "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000a"}}', true) \g /dev/null
SELECT audit.establecer_contexto('{"motivo": "oferta de fin de mes"}') \g /dev/null
UPDATE productos SET precio = 1399.99, stock = 9 WHERE sku = 'LAP-001';
SELECT audit.registrar_evento('REEMPLAZO_ARCHIVO',
    '{"archivo_original": {"nombre": "ficha-LAP-001.pdf", "tamano_bytes": 2048576},
      "archivo_nuevo": {"nombre": "ficha-LAP-001-v2.pdf", "tamano_bytes": 2156432},
      "motivo_reemplazo": "precio actualizado en la ficha"}',
    'productos', 'b0000000-0000-4000-8000-000000000001') \g /dev/null
COMMIT;
\echo '   2 products created, 1 price changed, 1 document replaced.'

\echo
\echo '== 2. María Gómez (Librería Sur) works through the API'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "a2222222-2222-4222-8222-222222222222", "email": "maria@libreria-sur.example", "user_metadata": {"full_name": "María Gómez"}, "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000b"}}', true) \g /dev/null
INSERT INTO clientes (empresa_id, nombre, email, password_hash) VALUES
    ('e0000000-0000-4000-8000-00000000000b', 'Ana Ruiz', 'ana@example.com', '$2b$12$secret-hash-1'),
    ('e0000000-0000-4000-8000-00000000000b', 'Luis Soto', 'luis@example.com', '$2b$12$secret-hash-2');
UPDATE clientes SET email = 'ana.ruiz@example.com', password_hash = '$2b$12$rotated' WHERE nombre = 'Ana Ruiz';
DELETE FROM clientes WHERE nombre = 'Luis Soto';
COMMIT;
\echo '   2 customers created, 1 e-mail changed (and its password hash, which is never stored), 1 customer deleted.'

\echo
\echo '== 3. Ferretería Norte''s timeline, newest first (the admin panel''s RPC and its one-line summaries)'
SELECT id, to_char("timestamp", 'HH24:MI:SS') AS hora, audit.resumen(id) AS resumen, metadata->>'motivo' AS motivo, rol_bd
  FROM audit.get_historial_cambios('{"empresa_id": "e0000000-0000-4000-8000-00000000000a", "limite": 20}');

\echo
\echo '== 4. Librería Sur''s timeline: only its own events (deletes and updates only)'
SELECT id, audit.resumen(id) AS resumen
  FROM audit.get_historial_cambios('{"empresa_id": "e0000000-0000-4000-8000-00000000000b", "accion": ["UPDATE", "DELETE"]}');

\echo
\echo '== 5. Side-by-side diff of the price change, and the same change as an RFC 6902 JSON Patch'
SELECT d.* FROM audit.get_historial_cambios('{"tabla": "productos", "accion": "UPDATE", "limite": 1}') h,
       audit.diferencias(h.id) d;
SELECT audit.jsonb_patch(datos_anteriores, datos_nuevos) AS patch
  FROM audit.get_historial_cambios('{"tabla": "productos", "accion": "UPDATE", "limite": 1}');

\echo
\echo '== 6. Diff of the customer update: password_hash changed too, but was never recorded'
SELECT d.* FROM audit.get_historial_cambios('{"tabla": "clientes", "accion": "UPDATE", "limite": 1}') h,
       audit.diferencias(h.id) d;

\echo
\echo '== 7. One record''s whole history (Laptop Gamer), application event included'
SELECT id, accion, usuario_nombre AS usuario, coalesce(metadata->>'tipo_operacion', '') AS evento,
       datos_nuevos->>'precio' AS precio
  FROM audit.get_historial_cambios('{"registro_id": "b0000000-0000-4000-8000-000000000001"}');

\echo
\echo '== 7b. Spreadsheet export of Ferretería Norte (CSV, one row per changed field)'
\copy (SELECT id, usuario_nombre, accion, tabla_afectada, campo, valor_anterior, valor_nuevo FROM audit.historial_plano('{"empresa_id": "e0000000-0000-4000-8000-00000000000a"}')) TO STDOUT WITH (FORMAT csv, HEADER)

\echo
\echo '== 7c. Activity by user, for a dashboard'
SELECT * FROM audit.actividad(now() - interval '1 day', NULL, 'usuario');

\echo
\echo '== 7d. Through the API, row-level security: Librería Sur''s administrator, then a plain seller'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "a2222222-2222-4222-8222-222222222222", "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000b", "rol": "administrador"}}', true) \g /dev/null
SELECT 'administrador' AS rol, count(*) AS eventos_visibles, string_agg(DISTINCT empresa_id::text, ', ') AS empresas
  FROM audit.get_historial_cambios('{"limite": 1000}');
SELECT set_config('request.jwt.claims', '{"sub": "a2222222-2222-4222-8222-222222222222", "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000b", "rol": "vendedor"}}', true) \g /dev/null
SELECT 'vendedor' AS rol, count(*) AS eventos_visibles FROM audit.get_historial_cambios('{"limite": 1000}');
COMMIT;

\echo
\echo '== 7e. Tamper evidence: seal the finished transactions, verify, keep the digest outside'
SELECT audit.sellar() ->> 'eventos_sellados' AS eventos_sellados;
SELECT v ->> 'valido' AS valido, v ->> 'eventos' AS eventos, v ->> 'bloques' AS bloques FROM audit.verificar() v;
SELECT audit.digest() AS digest_para_guardar_fuera;

\echo
\echo '== 7f. Restore: preview undoing the price change, then undo it (recorded as a RESTAURACION)'
SELECT id AS cambio_precio FROM audit.get_historial_cambios('{"tabla": "productos", "accion": "UPDATE", "limite": 1}') \gset
SELECT r -> 'cambios' -> 0 -> 'antes' ->> 'precio' AS precio_ahora, r -> 'cambios' -> 0 -> 'despues' ->> 'precio' AS precio_tras_deshacer,
       r -> 'conflictos' AS conflictos
  FROM audit.deshacer(:cambio_precio, simular => true) r;
BEGIN;
SELECT audit.establecer_contexto('{"motivo": "la oferta se publicó por error"}') \g /dev/null
SELECT audit.deshacer(:cambio_precio) -> 'aplicado' AS aplicado;
COMMIT;
SELECT accion, datos_nuevos ->> 'precio' AS precio, metadata ->> 'tipo_operacion' AS tipo, metadata ->> 'motivo' AS motivo
  FROM audit.get_historial_cambios('{"tabla": "productos", "limite": 1}');

\echo
\echo '== 7g. Module rollback: a bad bulk import of the catalogue, undone to the mark taken before it'
SELECT audit.crear_modulo('catalogo', ARRAY['productos']::regclass[]) \g /dev/null
SELECT audit.crear_marca('catalogo', 'antes_de_importar') \g /dev/null
UPDATE productos SET precio = precio * 100;
INSERT INTO productos (empresa_id, sku, nombre, precio, stock)
SELECT 'e0000000-0000-4000-8000-00000000000a', 'IMP-' || g, 'importado ' || g, 1, 1 FROM generate_series(1, 3) g;
SELECT count(*) AS productos_tras_importar, max(precio) AS precio_maximo FROM productos;
SELECT c ->> 'tabla' AS tabla, c -> 'insertadas' AS insertadas, c -> 'actualizadas' AS actualizadas, c -> 'eliminadas' AS eliminadas
  FROM audit.revertir_modulo('catalogo', 'antes_de_importar') r, jsonb_array_elements(r -> 'cambios') c;
SELECT count(*) AS productos_ahora, max(precio) AS precio_maximo FROM productos;

\echo
\echo '== 7h. Configuration documents: Ferretería Norte''s SMTP settings, changed, compared, restored'
SET audit.empresa_id = 'e0000000-0000-4000-8000-00000000000a';
SET audit.usuario_nombre = 'Administradora';
SELECT audit.guardar_config('smtp', '{"host": "smtp.ferreteria-norte.example", "port": 587, "tls": "starttls",
    "usuario": "avisos", "password": "clave-vieja", "remitente": "avisos@ferreteria-norte.example"}', 'alta') AS v_alta \gset
SELECT audit.guardar_config('smtp', '{"host": "mail.proveedor.example", "port": 465, "tls": "tls",
    "usuario": "avisos", "password": "clave-nueva", "remitente": "avisos@ferreteria-norte.example"}', 'nuevo proveedor') \g /dev/null
\echo '-- an invalid document is refused, naming the path and the rule:'
\set ON_ERROR_STOP off
\set VERBOSITY terse
SELECT audit.guardar_config('smtp', '{"host": "mail.proveedor.example", "port": 70000, "remitente": "avisos"}');
\set VERBOSITY default
\set ON_ERROR_STOP on
\echo '-- history (secrets masked) and comparison of the first version with the active one:'
SELECT id_version, comentario, json_config ->> 'host' AS host, json_config ->> 'password' AS password, usuario_nombre
  FROM audit.historial_config('smtp');
SELECT audit.comparar_config(:v_alta);
\echo '-- restore: preview, then apply; the application reads the restored settings:'
SELECT r -> 'simulado' AS simulado, r -> 'cambios' -> 'host' AS host FROM audit.restaurar_config(:v_alta, simular => true) r;
SELECT r -> 'aplicado' AS aplicado, r -> 'id_version' AS nueva_version FROM audit.restaurar_config(:v_alta, comentario => 'el proveedor nuevo falla') r;
SELECT audit.config_actual('smtp') ->> 'host' AS host_activo;
SELECT accion, tabla_afectada, metadata ->> 'tipo_operacion' AS tipo, datos_nuevos -> 'json_config' ->> 'password' AS password_en_el_log
  FROM audit.historial_cambios WHERE tabla_afectada = 'config_versiones' ORDER BY id;
RESET audit.empresa_id;
RESET audit.usuario_nombre;

\echo
\echo '== 7i. Stock movements, captured from the WAL: the writer only writes the row'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "email": "juan@ferreteria-norte.example", "user_metadata": {"full_name": "Juan Pérez"}, "app_metadata": {"empresa_id": "e0000000-0000-4000-8000-00000000000a"}}', true) \g /dev/null
SELECT audit.establecer_contexto('{"motivo": "inventario mensual"}') \g /dev/null
INSERT INTO movimientos_stock (empresa_id, producto_id, cantidad, motivo)
SELECT 'e0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-000000000002', g, 'recuento ' || g
  FROM generate_series(1, 500) g;
UPDATE movimientos_stock SET cantidad = cantidad - 1 WHERE id <= 3;
COMMIT;
\echo '-- the capture worker applies it after the commit; its state and lag (bytes, seconds):'
SELECT e -> 'worker' -> 'en_marcha' AS worker, e -> 'tablas' AS tablas, e -> 'lag_bytes' AS lag_bytes, e -> 'lag_segundos' AS lag_segundos
  FROM audit.estado_captura() e;
SELECT audit.esperar_captura('30 seconds') \g /dev/null
\echo '-- once applied, its events sit beside the others, with the same writer and context:'
SELECT accion, count(*) AS eventos, min(usuario_nombre) AS usuario, min(metadata ->> 'motivo') AS motivo
  FROM audit.historial_cambios WHERE tabla_afectada = 'movimientos_stock' GROUP BY accion ORDER BY accion;

\echo
\echo '== 8. Audited tables'
SELECT tabla, excluir_columnas, columna_empresa, columnas_clave, triggers, captura_activa
  FROM audit.tablas_auditadas ORDER BY tabla::text;

\echo
\echo '== 9. The log is append-only, even for a superuser'
\set ON_ERROR_STOP off
\set VERBOSITY terse
DELETE FROM audit.historial_cambios;
