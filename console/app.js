// Consola de auditoría: una página que solo habla con las funciones SQL de
// la extensión, por RPC al estilo de PostgREST (POST /rpc/<función>, cuerpo
// JSON, Authorization: Bearer <JWT>). Funciona igual con PostgREST, con
// Supabase o con el servidor de ejemplo del repositorio (console/README.md).
'use strict';

// ---------------------------------------------------------------- sesión

const TOKEN = 'audit.token';

function token() {
  return sessionStorage.getItem(TOKEN) || '';
}

// Un enlace con #token=... (lo que imprime `make demo`) abre la sesión y
// el token sale de la dirección enseguida.
function tomarTokenDeLaDireccion() {
  const m = location.hash.match(/^#token=([^&]+)(?:&(.*))?$/);
  if (m) {
    // Un enlace mal formado (%E0%A4%A) no deja la página en blanco: se
    // descarta, y la sesión que hubiera sigue.
    try {
      sessionStorage.setItem(TOKEN, decodeURIComponent(m[1]));
    } catch (e) {
      if (!(e instanceof URIError)) throw e;
    }
    history.replaceState(null, '', location.pathname + '#/' + (m[2] || 'linea'));
  }
}

// ------------------------------------------------------------------- RPC

class ErrorRpc extends Error {
  constructor(estado, cuerpo) {
    super((cuerpo && cuerpo.message) || `HTTP ${estado}`);
    this.estado = estado;
    this.codigo = cuerpo && cuerpo.code;
    this.detalle = cuerpo && cuerpo.details;
    this.pista = cuerpo && cuerpo.hint;
  }
}

// Llama a audit.<funcion> con argumentos por nombre. `seleccion` es el
// parámetro select de PostgREST (columnas calculadas como resumen_evento).
async function rpc(funcion, args = {}, seleccion) {
  const url = '/rpc/' + funcion + (seleccion ? '?select=' + encodeURIComponent(seleccion) : '');
  const cabeceras = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token()) cabeceras.Authorization = 'Bearer ' + token();
  const r = await fetch(url, { method: 'POST', headers: cabeceras, body: JSON.stringify(args) });
  const texto = await r.text();
  const cuerpo = texto ? JSON.parse(texto) : null;
  if (!r.ok) throw new ErrorRpc(r.status, cuerpo);
  return cuerpo;
}

// -------------------------------------------------------------- utilidades

function el(etiqueta, atributos = {}, ...hijos) {
  const e = document.createElement(etiqueta);
  for (const [k, v] of Object.entries(atributos)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const h of hijos.flat()) {
    if (h === null || h === undefined || h === false) continue;
    e.append(h instanceof Node ? h : document.createTextNode(String(h)));
  }
  return e;
}

const pantalla = () => document.getElementById('pantalla');

function mostrar(...nodos) {
  pantalla().replaceChildren(...nodos);
}

function listo(nombre) {
  document.body.dataset.listo = nombre;
}

function mensajeDeError(e) {
  if (!(e instanceof ErrorRpc)) return String(e.message || e);
  const partes = [e.message];
  if (e.detalle) partes.push(e.detalle);
  if (e.pista) partes.push(e.pista);
  return partes.join(' — ');
}

function cajaDeError(e) {
  return el('div', { class: 'error', id: 'error', dataset: { codigo: e.codigo || '' } },
    el('strong', {}, 'No se pudo completar: '), mensajeDeError(e));
}

function json(v) {
  return JSON.stringify(v, null, 2);
}

function texto(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const FECHA = new Intl.DateTimeFormat('es', { dateStyle: 'medium', timeStyle: 'medium' });

function fecha(iso) {
  return iso ? FECHA.format(new Date(iso)) : '';
}

// "hace 5 minutos": relativo al reloj del navegador.
function haceCuanto(iso) {
  const rtf = new Intl.RelativeTimeFormat('es', { numeric: 'auto' });
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  const pasos = [[60, 'second'], [60, 'minute'], [24, 'hour'], [30, 'day'], [12, 'month'], [Infinity, 'year']];
  let v = s;
  for (const [n, unidad] of pasos) {
    if (Math.abs(v) < n) return rtf.format(Math.round(v), unidad);
    v /= n;
  }
  return '';
}

function corto(s, n = 80) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function iniciales(nombre) {
  const p = (nombre || '?').replace(/@.*/, '').split(/[\s._-]+/).filter(Boolean);
  return ((p[0] || '?')[0] + (p.length > 1 ? p[p.length - 1][0] : '')).toUpperCase();
}

// Signos de las fuentes comunes (sin emoji: no toda máquina los tiene).
const ICONOS = { INSERT: '+', UPDATE: '✎', DELETE: '−', TRUNCATE: '∅', EVENTO: '◆', DDL: '#' };
const ACCIONES = { INSERT: 'Creación', UPDATE: 'Cambio', DELETE: 'Eliminación', TRUNCATE: 'Vaciado', EVENTO: 'Evento', DDL: 'Estructura' };

function descargar(nombre, tipo, datos) {
  const url = URL.createObjectURL(new Blob([datos], { type: tipo }));
  const a = el('a', { href: url, download: nombre });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ------------------------------------------------------- ventana (modal)

function abrirVentana(titulo, ...contenido) {
  document.getElementById('ventana-titulo').textContent = titulo;
  document.getElementById('ventana-cuerpo').replaceChildren(...contenido);
  document.getElementById('ventana').hidden = false;
}

function cerrarVentana() {
  document.getElementById('ventana').hidden = true;
  document.getElementById('ventana-cuerpo').replaceChildren();
}

// Vista previa, confirmación y aplicación de una restauración: la función
// se llama primero con simular => true; el informe se muestra; solo tras
// confirmar se llama de verdad. Opciones: `previo(informe, zona)` dibuja la
// vista previa (por defecto, el informe); `alTerminar(informe)` tras
// aplicar; `alCancelar()` (por defecto, quitar la vista previa); `listo`,
// la pantalla que queda lista con la vista previa dibujada.
function flujoDeRestauracion(contenedor, titulo, funcion, args, opciones = {}) {
  const zona = el('div', { class: 'restauracion', id: 'zona-restauracion' });
  contenedor.append(zona);
  zona.append(el('p', {}, 'Calculando la vista previa…'));
  const terminar = () => { if (opciones.listo) listo(opciones.listo); };
  rpc(funcion, Object.assign({}, args, { simular: true })).then(async (previo) => {
    zona.replaceChildren(el('h3', {}, titulo + ': vista previa'));
    if (opciones.previo) await opciones.previo(previo, zona);
    else zona.append(informe(previo, 'informe-previo'));
    if (!previo.error) {
      zona.append(el('div', { class: 'acciones' },
        el('button', { type: 'button', class: 'peligro', id: 'confirmar', onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const hecho = await rpc(funcion, args);
            zona.append(el('h3', {}, 'Resultado'), informe(hecho, 'informe-final'));
            if (hecho.aplicado && opciones.alTerminar) opciones.alTerminar(hecho);
          } catch (e) {
            zona.append(cajaDeError(e));
          }
        } }, 'Confirmar'),
        el('button', { type: 'button', id: 'cancelar', onclick: opciones.alCancelar || (() => zona.remove()) }, 'Cancelar')));
    }
    terminar();
  }).catch((e) => {
    zona.replaceChildren(cajaDeError(e));
    terminar();
  });
}

// El informe común de las restauraciones (docs/restore.md).
function informe(r, id) {
  const caja = el('div', { class: 'informe', id, dataset: { aplicado: String(!!r.aplicado) } });
  caja.append(el('p', { class: r.error ? 'mal' : 'bien' },
    r.error ? 'No se puede aplicar.' : (r.simulado ? 'Esto es lo que se haría (nada se ha escrito todavía).' : (r.aplicado ? 'Aplicado.' : 'No aplicado.'))));
  if (r.error) {
    caja.append(el('p', { class: 'error', id: 'error', dataset: { codigo: r.error.sqlstate || '' } },
      r.error.mensaje || '', r.error.detalle ? el('br') : null, r.error.detalle || ''));
  }
  for (const a of r.advertencias || []) caja.append(el('p', { class: 'advertencia' }, a));
  const cambios = r.cambios;
  if (Array.isArray(cambios) && cambios.length) {
    const tabla = el('table', { class: 'cambios' },
      el('tr', {}, el('th', {}, 'Tabla'), el('th', {}, 'Operación / filas'), el('th', {}, 'Detalle')));
    for (const c of cambios) {
      const filas = c.operacion ? `${c.operacion} (${c.filas ?? 0})`
        : `+${c.insertadas ?? 0} ✎${c.actualizadas ?? 0} −${c.eliminadas ?? 0}`;
      tabla.append(el('tr', { class: 'cambio' }, el('td', {}, c.tabla), el('td', {}, filas),
        el('td', {}, el('pre', {}, json(c.despues !== undefined ? { antes: c.antes, despues: c.despues } : c)))));
    }
    caja.append(tabla);
  } else if (cambios && typeof cambios === 'object' && !Array.isArray(cambios)) {
    caja.append(tablaComparacion(cambios));
  }
  return caja;
}

// {campo: {antes, despues}} (comparar_config) como tabla lado a lado.
function tablaComparacion(cambios, erroresPorCampo = Object.create(null)) {
  const t = el('table', { class: 'diff', id: 'comparacion' },
    el('tr', {}, el('th', {}, 'Campo'), el('th', {}, 'Antes'), el('th', {}, 'Después')));
  for (const [campo, v] of Object.entries(cambios)) {
    const error = erroresPorCampo[campo];
    t.append(el('tr', { class: 'cambiado', dataset: { campo } },
      el('td', {}, campo, error ? el('div', { class: 'error-campo', dataset: { campo } }, error) : null),
      el('td', {}, el('code', {}, texto(v && v.antes))),
      el('td', {}, el('code', {}, texto(v && v.despues)))));
  }
  if (!Object.keys(cambios).length) t.append(el('tr', {}, el('td', { colspan: 3 }, 'Sin diferencias.')));
  return t;
}

// ------------------------------------------------------------ filtros/URL

const CLAVES_FILTRO = ['desde', 'hasta', 'usuario_id', 'tabla', 'accion', 'tipo_operacion', 'registro_id'];

function ruta() {
  const h = location.hash.replace(/^#\/?/, '');
  const [nombre, consulta] = h.split('?');
  return { nombre: nombre || 'linea', parametros: new URLSearchParams(consulta || '') };
}

function irA(nombre, parametros) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(parametros || {})) if (v) q.set(k, v);
  const s = q.toString();
  location.hash = '#/' + nombre + (s ? '?' + s : '');
}

// Los filtros de la URL como filtros de get_historial_cambios.
function filtrosDe(parametros) {
  const f = {};
  for (const k of CLAVES_FILTRO) {
    const v = parametros.get(k);
    if (!v) continue;
    if (k === 'desde' || k === 'hasta') f[k] = new Date(v).toISOString();
    else f[k] = v;
  }
  return f;
}

function barraDeFiltros(nombre, parametros) {
  const campo = (clave, etiqueta, tipo = 'text', extra = {}) => el('label', {}, etiqueta,
    el('input', Object.assign({ name: clave, id: 'filtro-' + clave, type: tipo, value: parametros.get(clave) || '' }, extra)));
  const accion = el('select', { name: 'accion', id: 'filtro-accion' }, el('option', { value: '' }, 'todas'),
    Object.entries(ACCIONES).map(([v, t]) => el('option', { value: v, selected: parametros.get('accion') === v }, t)));
  const form = el('form', { class: 'filtros', id: 'filtros' },
    campo('desde', 'Desde', 'datetime-local'), campo('hasta', 'Hasta', 'datetime-local'),
    campo('usuario_id', 'Usuario (id)'), campo('tabla', 'Tabla'),
    el('label', {}, 'Acción', accion),
    campo('tipo_operacion', 'Tipo de operación'), campo('registro_id', 'Registro (id)'),
    el('button', { type: 'submit', id: 'aplicar-filtros' }, 'Filtrar'),
    el('button', { type: 'button', id: 'limpiar-filtros', onclick: () => irA(nombre, {}) }, 'Limpiar'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    irA(nombre, Object.fromEntries(new FormData(form)));
  });
  return form;
}

// ---------------------------------------------------- identidad y acceso

let identidad = null;

async function comprobarAcceso() {
  identidad = await rpc('identidad_actual');
  const quien = document.getElementById('quien');
  quien.textContent = identidad.usuario_nombre || identidad.usuario_id || identidad.rol_bd || '';
  return identidad.lector;
}

function paginaSinAcceso() {
  mostrar(el('section', { class: 'vacio', id: 'sin-acceso' },
    el('h2', {}, 'No hay nada que mostrar'),
    el('p', {}, `Tu rol de aplicación (${identidad.rol || 'ninguno'}) no puede leer el historial de cambios. `
      + 'Solo los roles lectores (propietario, administrador) ven la auditoría de su empresa.'),
    identidad.empresa_id ? null : el('p', {}, 'Tu sesión no indica ninguna empresa.')));
  listo('sin-acceso');
}

// ------------------------------------------------------ línea de tiempo

const POR_PAGINA = 25;

async function pantallaLinea(parametros) {
  const filtros = filtrosDe(parametros);
  const lista = el('ol', { class: 'linea', id: 'linea' });
  const mas = el('button', { type: 'button', id: 'cargar-mas', hidden: true }, 'Cargar más');
  const estado = el('p', { class: 'estado', id: 'estado-linea' });
  mostrar(barraDeFiltros('linea', parametros),
    botonesDeExportacion(filtros), lista, estado, mas);
  let cursor = null;
  async function pagina() {
    const f = Object.assign({ limite: POR_PAGINA }, filtros, cursor ? { antes_de: cursor } : {});
    const filas = await rpc('get_historial_cambios', { filtros: f }, '*,resumen_evento');
    for (const e of filas) lista.append(elementoDeLinea(e));
    if (filas.length) cursor = filas[filas.length - 1].id;
    mas.hidden = filas.length < POR_PAGINA;
    estado.textContent = lista.children.length ? '' : 'Ningún cambio coincide con los filtros.';
  }
  mas.addEventListener('click', () => pagina().catch((e) => estado.replaceChildren(cajaDeError(e))));
  await pagina();
  listo('linea');
}

function elementoDeLinea(e) {
  const tipo = e.metadata && e.metadata.tipo_operacion;
  const claves = tipo ? Object.entries(e.metadata).filter(([k]) => k !== 'tipo_operacion').slice(0, 3) : [];
  const nombre = e.usuario_nombre || e.usuario_externo || e.rol_bd;
  return el('li', { class: 'evento accion-' + e.accion.toLowerCase(), dataset: { id: e.id, accion: e.accion, tabla: e.tabla_afectada || '' } },
    el('span', { class: 'icono', title: ACCIONES[e.accion] || e.accion }, ICONOS[e.accion] || '•'),
    el('span', { class: 'avatar', title: nombre }, iniciales(nombre)),
    el('div', { class: 'contenido' },
      el('p', { class: 'resumen' }, e.resumen_evento),
      tipo ? el('p', { class: 'tipo-operacion' }, el('strong', {}, tipo),
        claves.map(([k, v]) => el('span', { class: 'meta' }, ` ${k}: ${corto(texto(v))}`))) : null,
      el('p', { class: 'cuando' }, el('time', { datetime: e.timestamp, title: fecha(e.timestamp) }, haceCuanto(e.timestamp)))),
    el('button', { type: 'button', class: 'ver-detalles', onclick: () => detalle(e) }, 'Ver detalles'));
}

// ---------------------------------------------------- ventana de detalle

async function detalle(e) {
  const cuerpo = el('div', { id: 'detalle', dataset: { id: e.id } });
  abrirVentana(`Cambio #${e.id}: ${e.resumen_evento || e.accion}`, cuerpo);
  cuerpo.append(el('p', { class: 'cuando' }, fecha(e.timestamp), ' · ', e.usuario_nombre || e.rol_bd,
    e.metadata && Object.keys(e.metadata).length ? el('code', { class: 'contexto' }, ' ' + texto(e.metadata)) : null));
  try {
    const [campos, parche] = await Promise.all([
      rpc('diferencias', { evento_id: e.id }),
      e.datos_anteriores || e.datos_nuevos
        ? rpc('jsonb_patch', { antes: e.datos_anteriores || {}, despues: e.datos_nuevos || {} }) : Promise.resolve(null),
    ]);
    const cambiados = new Set(e.campos_modificados || []);
    const tabla = el('table', { class: 'diff', id: 'diff' },
      el('tr', {}, el('th', {}, 'Campo'), el('th', {}, 'Antes'), el('th', {}, 'Después')));
    for (const c of campos) {
      tabla.append(el('tr', { class: cambiados.has(c.campo) || e.accion !== 'UPDATE' ? 'cambiado' : '', dataset: { campo: c.campo } },
        el('td', {}, c.campo), el('td', {}, el('code', {}, texto(c.valor_anterior))), el('td', {}, el('code', {}, texto(c.valor_nuevo)))));
    }
    cuerpo.append(el('h3', {}, 'Campos'), campos.length ? tabla : el('p', {}, 'Este evento no cambia filas.'));
    if (parche) cuerpo.append(el('details', {}, el('summary', {}, 'JSON Patch (RFC 6902)'), el('pre', { id: 'parche' }, json(parche))));
    if (e.registro_id) {
      const historia = await rpc('get_historial_cambios', { filtros: { registro_id: e.registro_id, limite: 100 } }, '*,resumen_evento');
      cuerpo.append(el('h3', {}, 'Historia del registro'),
        el('ol', { class: 'historia', id: 'historia-registro' },
          historia.map((h) => el('li', { class: h.id === e.id ? 'actual' : '' }, fecha(h.timestamp), ' — ', h.resumen_evento))));
    }
    if (['INSERT', 'UPDATE', 'DELETE'].includes(e.accion)) {
      cuerpo.append(el('div', { class: 'acciones' }, el('button', { type: 'button', id: 'deshacer', onclick: (ev) => {
        ev.target.disabled = true;
        flujoDeRestauracion(cuerpo, 'Deshacer este cambio', 'deshacer', { evento_id: e.id });
      } }, 'Deshacer este cambio')));
    }
  } catch (err) {
    cuerpo.append(cajaDeError(err));
  }
  listo('detalle');
}

// ---------------------------------------------------------- exportación

// Todas las filas de la vista filtrada, una por campo cambiado
// (audit.historial_plano), como CSV o como hoja de Excel.
async function exportar(filtros, formato) {
  const filas = await rpc('historial_plano', { filtros });
  const columnas = ['id', 'timestamp', 'usuario_nombre', 'accion', 'tabla_afectada', 'registro_id', 'campo',
    'valor_anterior', 'valor_nuevo', 'tipo_operacion', 'metadata'];
  const valores = filas.map((f) => columnas.map((c) => texto(f[c])));
  if (formato === 'csv') {
    // Una celda que empieza por =, +, -, @, tabulador o retorno sería una
    // fórmula para la hoja de cálculo (datos de cualquier usuario): va
    // precedida de un apóstrofo, como aconseja docs/reading.md.
    const neutra = (v) => (/^[=+\-@\t\r]/.test(v) ? "'" + v : v);
    const celda = (v) => {
      const n = neutra(v);
      return /[",\n\r;]/.test(n) ? '"' + n.replace(/"/g, '""') + '"' : n;
    };
    const csv = [columnas, ...valores].map((r) => r.map(celda).join(',')).join('\r\n');
    descargar('auditoria.csv', 'text/csv;charset=utf-8', '\ufeff' + csv);
  } else {
    descargar('auditoria.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      Xlsx.libro('Auditoría', columnas, valores));
  }
  document.body.dataset.exportado = formato + ':' + filas.length;
}

// Exportar la vista filtrada (CSV, Excel) o imprimirla (PDF).
function botonesDeExportacion(filtros) {
  return el('div', { class: 'exportar' },
    el('button', { type: 'button', id: 'exportar-csv', onclick: () => exportar(filtros, 'csv') }, 'Exportar CSV'),
    el('button', { type: 'button', id: 'exportar-xlsx', onclick: () => exportar(filtros, 'xlsx') }, 'Exportar Excel'),
    el('button', { type: 'button', id: 'imprimir', onclick: () => window.print() }, 'Imprimir / PDF'));
}

// ------------------------------------------------------------- actividad

const GRUPOS = { dia: 'Por día', usuario: 'Por usuario', tabla: 'Por tabla', tipo_operacion: 'Por tipo de operación' };

async function pantallaActividad(parametros) {
  const filtros = filtrosDe(parametros);
  const desde = filtros.desde || null;
  const hasta = filtros.hasta || null;
  delete filtros.desde;
  delete filtros.hasta;
  const graficos = el('div', { class: 'graficos', id: 'graficos' });
  mostrar(barraDeFiltros('actividad', parametros),
    botonesDeExportacion(filtrosDe(parametros)), graficos);
  const resultados = await Promise.all(Object.keys(GRUPOS).map((g) =>
    rpc('actividad', { desde, hasta, agrupar_por: g, filtros })));
  Object.keys(GRUPOS).forEach((g, i) => graficos.append(grafico(g, GRUPOS[g], resultados[i])));
  listo('actividad');
}

// Barras horizontales en SVG: una por grupo, apiladas por acción.
function grafico(clave, titulo, filas) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = (t, a) => {
    const e = document.createElementNS(NS, t);
    for (const [k, v] of Object.entries(a)) e.setAttribute(k, v);
    return e;
  };
  const max = Math.max(1, ...filas.map((f) => Number(f.total)));
  const alto = 22;
  const dibujo = svg('svg', { viewBox: `0 0 520 ${Math.max(1, filas.length) * alto + 4}`, class: 'barras', role: 'img' });
  const partes = [['inserciones', 'ins'], ['actualizaciones', 'act'], ['eliminaciones', 'eli'], ['eventos', 'eve']];
  filas.forEach((f, i) => {
    const y = i * alto + 2;
    const etiqueta = svg('text', { x: 0, y: y + 15, class: 'etiqueta' });
    etiqueta.textContent = (f.grupo ?? '(sin tipo)').slice(0, 24);
    dibujo.append(etiqueta);
    let x = 180;
    for (const [col, clase] of partes) {
      const w = (Number(f[col]) / max) * 300;
      if (w > 0) dibujo.append(svg('rect', { x, y, width: w, height: alto - 6, class: clase }));
      x += w;
    }
    const total = svg('text', { x: x + 4, y: y + 15, class: 'total' });
    total.textContent = f.total;
    dibujo.append(total);
  });
  return el('figure', { class: 'grafico', id: 'grafico-' + clave, dataset: { grupos: filas.length } },
    el('figcaption', {}, titulo), filas.length ? dibujo : el('p', {}, 'Sin actividad.'));
}

// --------------------------------------------------------- configuración

async function pantallaConfiguracion(parametros) {
  const tipos = await rpc('listar_tipos_config');
  const elegido = parametros.get('tipo') || (tipos[0] && tipos[0].tipo);
  const selector = el('select', { id: 'tipo-config', onchange: (ev) => irA('configuracion', { tipo: ev.target.value }) },
    tipos.map((t) => el('option', { value: t.tipo, selected: t.tipo === elegido }, t.tipo + (t.descripcion ? ' — ' + t.descripcion : ''))));
  const zona = el('div', { id: 'versiones' });
  mostrar(el('h2', {}, 'Configuración'), el('label', {}, 'Tipo ', selector), zona);
  if (!elegido) {
    zona.append(el('p', {}, 'No hay tipos de configuración.'));
    listo('configuracion');
    return;
  }
  const versiones = await rpc('historial_config', { tipo: elegido });
  const tabla = el('table', { class: 'versiones', id: 'tabla-versiones' },
    el('tr', {}, el('th', {}, ''), el('th', {}, 'Versión'), el('th', {}, 'Fecha'), el('th', {}, 'Usuario'),
      el('th', {}, 'Comentario'), el('th', {}, '')));
  versiones.forEach((v, i) => tabla.append(el('tr', { dataset: { version: v.id_version }, class: i === 0 ? 'activa' : '' },
    el('td', {}, el('input', { type: 'checkbox', class: 'comparar', value: v.id_version })),
    el('td', {}, v.id_version, i === 0 ? ' (activa)' : ''),
    el('td', {}, fecha(v.fecha_guardado)), el('td', {}, v.usuario_nombre || v.rol_bd),
    el('td', {}, v.comentario || (v.restaurada_desde ? `restaurada desde ${v.restaurada_desde}` : '')),
    el('td', {}, i === 0 ? null : el('button', { type: 'button', class: 'restaurar', onclick: () => restaurarVersion(elegido, v, versiones[0].id_version) }, 'Restaurar')))));
  const resultado = el('div', { id: 'resultado-config' });
  zona.append(tabla, el('button', { type: 'button', id: 'comparar', onclick: async () => {
    const marcadas = [...tabla.querySelectorAll('input.comparar:checked')].map((c) => Number(c.value)).sort((a, b) => a - b);
    if (marcadas.length < 1 || marcadas.length > 2) {
      resultado.replaceChildren(el('p', { class: 'advertencia' }, 'Marca una versión (contra la activa) o dos.'));
      return;
    }
    try {
      const diff = await rpc('comparar_config', { version_a: marcadas[0], version_b: marcadas[1] ?? null });
      resultado.replaceChildren(el('h3', {}, `Versión ${marcadas[0]} → ${marcadas[1] ?? 'activa'}`), tablaComparacion(diff));
    } catch (e) {
      resultado.replaceChildren(cajaDeError(e));
    }
  } }, 'Comparar'), resultado);
  listo('configuracion');
}

// Los errores de validación ("ruta: problema (regla)" en el detalle del
// informe) se muestran junto al campo al que se refieren.
function erroresPorCampo(detalle) {
  // Sin prototipo: un campo llamado constructor o __proto__ no encuentra
  // un "error" heredado de Object.
  const r = Object.create(null);
  for (const linea of String(detalle || '').split('\n')) {
    // "/ruta/del/campo: problema (regla)", quizá tras un encabezado.
    const m = linea.match(/\/([^/:\s]+)(?:\/[^:\s]*)?:\s*(.+)$/);
    if (m) r[m[1]] = (r[m[1]] ? r[m[1]] + '; ' : '') + m[2];
  }
  return r;
}

// `activa`: la versión activa (la que la restauración reemplazaría).
function restaurarVersion(tipo, v, activa) {
  const cuerpo = el('div', { id: 'restaurar-config', dataset: { version: v.id_version } });
  abrirVentana(`Restaurar ${tipo}, versión ${v.id_version}`, cuerpo);
  cuerpo.append(el('p', {}, 'Guardada el ', fecha(v.fecha_guardado), ' por ', v.usuario_nombre || v.rol_bd, '.'));
  flujoDeRestauracion(cuerpo, 'Restaurar la versión', 'restaurar_config',
    { id_version: v.id_version, comentario: 'restaurada desde la consola' }, {
      listo: 'restaurar-config',
      alCancelar: cerrarVentana,
      alTerminar: () => pantallaConfiguracion(new URLSearchParams({ tipo })),
      previo: async (previo, zona) => {
        const errores = previo.error ? erroresPorCampo(previo.error.detalle) : Object.create(null);
        // Una versión que ya no cumple el esquema: lo que cambiaría
        // restaurarla (de la activa a ella), con cada error junto a su campo.
        const cambios = previo.cambios && Object.keys(previo.cambios).length ? previo.cambios
          : (previo.error ? await rpc('comparar_config', { version_a: activa, version_b: v.id_version }).catch(() => ({})) : {});
        zona.append(informe(Object.assign({}, previo, { cambios: undefined }), 'informe-previo'), tablaComparacion(cambios, errores));
        // Los errores de campos que la comparación no muestra, uno por campo.
        for (const [campo, error] of Object.entries(errores)) {
          if (!cambios[campo]) zona.append(el('p', { class: 'error-campo', dataset: { campo } }, el('strong', {}, campo), ': ', error));
        }
      },
    });
}

// ---------------------------------------------------------------- módulos

async function pantallaModulos() {
  const modulos = await rpc('listar_modulos');
  const zona = el('div', { id: 'modulos' });
  mostrar(el('h2', {}, 'Módulos'), zona);
  if (!modulos.length) zona.append(el('p', {}, 'No hay módulos definidos.'));
  for (const m of modulos) {
    const lista = el('ul', { class: 'marcas' });
    for (const marca of m.marcas || []) {
      lista.append(el('li', { dataset: { marca: marca.nombre } }, el('strong', {}, marca.nombre), ' — ', fecha(marca.instante),
        ' ', el('button', { type: 'button', class: 'revertir', onclick: () => {
          const cuerpo = el('div', { id: 'revertir', dataset: { modulo: m.nombre, marca: marca.nombre } });
          abrirVentana(`Volver ${m.nombre} a la marca ${marca.nombre}`, cuerpo);
          flujoDeRestauracion(cuerpo, 'Revertir el módulo', 'revertir_modulo', { modulo: m.nombre, marca: marca.nombre });
          listo('revertir');
        } }, 'Volver a esta marca')));
    }
    zona.append(el('section', { class: 'modulo', dataset: { modulo: m.nombre } },
      el('h3', {}, m.nombre), el('p', {}, 'Tablas: ', (m.tablas || []).join(', ')),
      (m.marcas || []).length ? lista : el('p', {}, 'Sin marcas.')));
  }
  listo('modulos');
}

// ----------------------------------------------------------------- inicio

const PANTALLAS = { linea: pantallaLinea, actividad: pantallaActividad, configuracion: pantallaConfiguracion, modulos: pantallaModulos };

async function dibujar() {
  delete document.body.dataset.listo;
  cerrarVentana();
  const { nombre, parametros } = ruta();
  for (const a of document.querySelectorAll('#menu a')) a.classList.toggle('activo', a.dataset.pantalla === nombre);
  if (!token()) {
    document.getElementById('formulario-sesion').hidden = false;
    mostrar(el('p', { class: 'vacio' }, 'Pega un token de acceso para entrar.'));
    listo('sin-sesion');
    return;
  }
  try {
    if (!(await comprobarAcceso())) {
      paginaSinAcceso();
      return;
    }
    await (PANTALLAS[nombre] || pantallaLinea)(parametros);
  } catch (e) {
    mostrar(cajaDeError(e));
    listo('error');
  }
}

function iniciar() {
  tomarTokenDeLaDireccion();
  document.getElementById('cerrar-ventana').addEventListener('click', cerrarVentana);
  document.getElementById('cambiar-sesion').addEventListener('click', () => {
    const f = document.getElementById('formulario-sesion');
    f.hidden = !f.hidden;
  });
  document.getElementById('form-token').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN, document.getElementById('token').value.trim());
    document.getElementById('formulario-sesion').hidden = true;
    dibujar();
  });
  window.addEventListener('hashchange', () => {
    tomarTokenDeLaDireccion();
    dibujar();
  });
  dibujar();
}

iniciar();
