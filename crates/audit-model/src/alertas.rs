//! Alert rules (`audit.alertas`): which events send a notification.
//!
//! A rule names what an event must be, each part optional: the table (with
//! or without its schema, as the `tabla` filter of the reading functions),
//! the action, a changed column, the application event's `tipo_operacion`,
//! the tenant. An event matches a rule when it is everything the rule
//! names; a rule that names nothing matches every event.

use uuid::Uuid;

/// One rule, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Regla {
    pub id: i64,
    /// The `NOTIFY` channel.
    pub canal: String,
    /// The table's schema, when the rule names it.
    pub esquema: Option<String>,
    pub tabla: Option<String>,
    pub accion: Option<String>,
    /// A column the event changed (an UPDATE's `campos_modificados`).
    pub campo: Option<String>,
    pub tipo_operacion: Option<String>,
    pub empresa_id: Option<Uuid>,
}

/// What of an event the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Hecho<'a> {
    pub esquema: Option<&'a str>,
    pub tabla: Option<&'a str>,
    pub accion: &'a str,
    pub campos: &'a [&'a str],
    pub tipo_operacion: Option<&'a str>,
    pub empresa_id: Option<Uuid>,
}

impl Regla {
    pub fn coincide(&self, h: &Hecho<'_>) -> bool {
        let igual = |regla: &Option<String>, evento: Option<&str>| {
            regla.as_deref().is_none_or(|r| Some(r) == evento)
        };
        igual(&self.esquema, h.esquema)
            && igual(&self.tabla, h.tabla)
            && self
                .accion
                .as_deref()
                .is_none_or(|a| a.eq_ignore_ascii_case(h.accion))
            && self.campo.as_deref().is_none_or(|c| h.campos.contains(&c))
            && igual(&self.tipo_operacion, h.tipo_operacion)
            && self.empresa_id.is_none_or(|e| Some(e) == h.empresa_id)
    }
}

/// The notification's payload: the event's id and the rule's, nothing of
/// the event itself (a listener reads it through the reading functions,
/// under its own row security).
pub fn payload(evento: i64, regla: i64) -> String {
    format!(r#"{{"evento": {evento}, "alerta": {regla}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hecho<'a>(campos: &'a [&'a str]) -> Hecho<'a> {
        Hecho {
            esquema: Some("public"),
            tabla: Some("productos"),
            accion: "UPDATE",
            campos,
            tipo_operacion: None,
            empresa_id: Some(Uuid::from_bytes([1; 16])),
        }
    }

    #[test]
    fn a_rule_matches_what_it_names_and_ignores_the_rest() {
        let precio = Regla {
            tabla: Some("productos".into()),
            accion: Some("update".into()),
            campo: Some("precio".into()),
            ..Regla::default()
        };
        assert!(precio.coincide(&hecho(&["precio", "stock"])));
        assert!(!precio.coincide(&hecho(&["stock"])));
        assert!(!precio.coincide(&Hecho {
            accion: "INSERT",
            ..hecho(&["precio"])
        }));
        assert!(Regla::default().coincide(&hecho(&[])));
        let otro_esquema = Regla {
            esquema: Some("ventas".into()),
            ..precio.clone()
        };
        assert!(!otro_esquema.coincide(&hecho(&["precio"])));
        let otra_empresa = Regla {
            empresa_id: Some(Uuid::from_bytes([2; 16])),
            ..precio
        };
        assert!(!otra_empresa.coincide(&hecho(&["precio"])));
    }

    #[test]
    fn an_application_event_matches_by_its_kind() {
        let reemplazo = Regla {
            accion: Some("EVENTO".into()),
            tipo_operacion: Some("REEMPLAZO_ARCHIVO".into()),
            ..Regla::default()
        };
        let evento = Hecho {
            accion: "EVENTO",
            tipo_operacion: Some("REEMPLAZO_ARCHIVO"),
            ..hecho(&[])
        };
        assert!(reemplazo.coincide(&evento));
        assert!(!reemplazo.coincide(&Hecho {
            tipo_operacion: Some("VERSION_OBSOLETA"),
            ..evento
        }));
    }

    #[test]
    fn the_payload_carries_ids_only() {
        assert_eq!(payload(42, 7), r#"{"evento": 42, "alerta": 7}"#);
    }
}
