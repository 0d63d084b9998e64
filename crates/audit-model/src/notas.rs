//! `notas`: what the capture noted about an event beyond the row's values,
//! NULL for the ordinary event. Each note answers a question a reader of the
//! log could not answer otherwise (docs/capture.md, "Notes on an event"):
//!
//! * `empresa_declarada`: the tenant the writer's identity named (settings or
//!   claims) when the event is filed under another one, the row's own. Who
//!   wrote into a tenant's row while claiming to be someone else.
//! * `avisos_identidad`: why the writer's identity could not be read, or only
//!   in part (malformed claims, a setting that is not a uuid). Without it, an
//!   event written under broken claims looks like one written with none.
//! * `traslado`: `"salida"` or `"entrada"`, when an UPDATE moved the row to
//!   another tenant: it is recorded as two events, a DELETE filed under the
//!   old tenant and an INSERT under the new one, so that neither tenant
//!   reads the other's values.
//! * `valores_exactos`: `{"anteriores": {...}, "nuevos": {...}}`, the text of
//!   the values `to_jsonb` cannot represent exactly (an array whose lower
//!   bounds are not 1, also inside a composite value), by column. Restores
//!   write these back instead of the snapshot's rendering.

use serde_json::{Map, Value};
use uuid::Uuid;

/// Which side of a move between tenants an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traslado {
    /// Filed under the tenant the row left.
    Salida,
    /// Filed under the tenant the row entered.
    Entrada,
}

/// The notes of one event; [`Notas::to_json`] is `None` when there are none.
#[derive(Debug, Default)]
pub struct Notas<'a> {
    /// The tenant the event is filed under.
    pub empresa_evento: Option<Uuid>,
    /// The tenant the writer's identity names.
    pub empresa_identidad: Option<Uuid>,
    /// The identity's warnings, as messages.
    pub avisos_identidad: &'a [String],
    pub traslado: Option<Traslado>,
    /// Exact text of the before-image's values, by column.
    pub exactos_anteriores: Option<Map<String, Value>>,
    /// Exact text of the after-image's values, by column.
    pub exactos_nuevos: Option<Map<String, Value>>,
}

impl Notas<'_> {
    pub fn to_json(self) -> Option<Value> {
        let mut notas = Map::new();
        if let Some(declarada) = self
            .empresa_identidad
            .filter(|d| self.empresa_evento.is_some_and(|e| e != *d))
        {
            notas.insert("empresa_declarada".into(), declarada.to_string().into());
        }
        if !self.avisos_identidad.is_empty() {
            notas.insert("avisos_identidad".into(), self.avisos_identidad.into());
        }
        if let Some(t) = self.traslado {
            let lado = match t {
                Traslado::Salida => "salida",
                Traslado::Entrada => "entrada",
            };
            notas.insert("traslado".into(), lado.into());
        }
        let mut exactos = Map::new();
        for (lado, valores) in [
            ("anteriores", self.exactos_anteriores),
            ("nuevos", self.exactos_nuevos),
        ] {
            if let Some(v) = valores.filter(|v| !v.is_empty()) {
                exactos.insert(lado.into(), Value::Object(v));
            }
        }
        if !exactos.is_empty() {
            notas.insert("valores_exactos".into(), Value::Object(exactos));
        }
        (!notas.is_empty()).then_some(Value::Object(notas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: Uuid = Uuid::from_u128(0xa);
    const B: Uuid = Uuid::from_u128(0xb);

    #[test]
    fn an_ordinary_event_has_no_notes() {
        assert_eq!(Notas::default().to_json(), None);
        let same = Notas {
            empresa_evento: Some(A),
            empresa_identidad: Some(A),
            exactos_nuevos: Some(Map::new()),
            ..Default::default()
        };
        assert_eq!(same.to_json(), None);
        // A writer without a tenant claims nothing.
        let none = Notas {
            empresa_evento: Some(A),
            ..Default::default()
        };
        assert_eq!(none.to_json(), None);
    }

    #[test]
    fn a_writer_claiming_another_tenant_is_noted() {
        let n = Notas {
            empresa_evento: Some(B),
            empresa_identidad: Some(A),
            ..Default::default()
        };
        assert_eq!(
            n.to_json(),
            Some(json!({"empresa_declarada": A.to_string()}))
        );
    }

    #[test]
    fn every_kind_of_note_together() {
        let avisos = ["claims in setting request.jwt.claims are ignored: not JSON".to_string()];
        let mut exactos = Map::new();
        exactos.insert("m".into(), "[0:1]={1,2}".into());
        let n = Notas {
            empresa_evento: Some(B),
            empresa_identidad: None,
            avisos_identidad: &avisos,
            traslado: Some(Traslado::Entrada),
            exactos_anteriores: None,
            exactos_nuevos: Some(exactos),
        };
        assert_eq!(
            n.to_json(),
            Some(json!({
                "avisos_identidad": ["claims in setting request.jwt.claims are ignored: not JSON"],
                "traslado": "entrada",
                "valores_exactos": {"nuevos": {"m": "[0:1]={1,2}"}}
            }))
        );
    }
}
