//! The columns of `audit.historial_cambios`, by name.
//!
//! One list, here, says which columns the capture path fills and in what
//! order it keeps their values ([`LogRow`]); the writer sets them by name,
//! the hash reads them by name (src/ledger/huella.rs), and the inserter
//! finds each one in the table by name (so a log whose columns an upgrade
//! reordered still works). Adding a column to the log: add it to the table
//! (src/sql/bootstrap.sql and an upgrade script), add it to the list below,
//! set it in src/capture/writer.rs and cover it in the hash's encoding
//! (crates/audit-model/src/huella.rs); the tests in src/capture/writer.rs fail until
//! the list, the table, the writer and the hash agree.

use pgrx::pg_sys;

macro_rules! log_columns {
    ($($column:ident => $name:literal,)*) => {
        /// A column of the log, in the order [`LogRow`] keeps them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum LogColumn {
            $($column,)*
        }

        impl LogColumn {
            /// Every column, in order.
            pub const ALL: [LogColumn; [$($name,)*].len()] = [$(LogColumn::$column,)*];

            /// The column's name in the table.
            pub const fn name(self) -> &'static str {
                match self {
                    $(LogColumn::$column => $name,)*
                }
            }
        }
    };
}

log_columns! {
    Id => "id",
    Timestamp => "timestamp",
    UsuarioId => "usuario_id",
    UsuarioNombre => "usuario_nombre",
    Accion => "accion",
    Esquema => "esquema",
    TablaAfectada => "tabla_afectada",
    RegistroId => "registro_id",
    RegistroPk => "registro_pk",
    DatosAnteriores => "datos_anteriores",
    DatosNuevos => "datos_nuevos",
    CamposModificados => "campos_modificados",
    EmpresaId => "empresa_id",
    Metadata => "metadata",
    Transaccion => "transaccion",
    RolBd => "rol_bd",
    Aplicacion => "aplicacion",
    IpCliente => "ip_cliente",
    RegistroIdAnterior => "registro_id_anterior",
    RolSesion => "rol_sesion",
    UsuarioExterno => "usuario_externo",
    Notas => "notas",
    // Last: computed from all the others (src/ledger/huella.rs).
    Huella => "huella",
}

/// How many columns the capture path fills.
pub const COUNT: usize = LogColumn::ALL.len();

// The hash covers every column before it: it must stay last.
const _: () = assert!(LogColumn::Huella as usize == COUNT - 1);

/// One row for the log: a value (or NULL) per column, set by name.
pub struct LogRow {
    values: [pg_sys::Datum; COUNT],
    nulls: [bool; COUNT],
}

impl Default for LogRow {
    fn default() -> LogRow {
        LogRow {
            values: [pg_sys::Datum::from(0); COUNT],
            nulls: [true; COUNT],
        }
    }
}

impl LogRow {
    /// Sets `column` to `value` (`None`: NULL).
    pub fn set(&mut self, column: LogColumn, value: Option<pg_sys::Datum>) {
        let at = column as usize;
        self.nulls[at] = value.is_none();
        self.values[at] = value.unwrap_or(pg_sys::Datum::from(0));
    }

    /// The value of `column`, `None` when NULL.
    #[cfg(any(test, feature = "pg_test"))]
    pub fn get(&self, column: LogColumn) -> Option<pg_sys::Datum> {
        let at = column as usize;
        (!self.nulls[at]).then_some(self.values[at])
    }

    /// The values and NULL flags, in [`LogColumn::ALL`] order.
    pub fn values_and_nulls(&self) -> (&[pg_sys::Datum; COUNT], &[bool; COUNT]) {
        (&self.values, &self.nulls)
    }
}

/// The columns' names, in [`LogColumn::ALL`] order.
pub const NAMES: [&str; COUNT] = {
    let mut names = [""; COUNT];
    let mut i = 0;
    while i < COUNT {
        names[i] = LogColumn::ALL[i].name();
        i += 1;
    }
    names
};
