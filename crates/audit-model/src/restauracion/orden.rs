//! The order in which a module's tables are written.
//!
//! Rows are inserted and updated parents first and deleted children first,
//! so every foreign key between the module's tables holds after each
//! statement. A reference of a table to itself needs no order (PostgreSQL
//! checks it at the end of the statement, which writes all of that table's
//! rows at once). Tables in a cycle of references cannot be ordered: they
//! come last, in the given order, and are named so the report can say so
//! (only deferrable constraints make such a restore work).

/// `tablas` ordered parents first. `referencias` are (child, parent) pairs:
/// the child has a foreign key to the parent. References to tables outside
/// `tablas` are ignored. Ties keep the given order, so the result is stable.
/// Returns the order and the tables left in cycles.
pub fn padres_primero<T: PartialEq + Clone>(
    tablas: &[T],
    referencias: &[(T, T)],
) -> (Vec<T>, Vec<T>) {
    let dentro = |t: &T| tablas.contains(t);
    let aristas: Vec<(&T, &T)> = referencias
        .iter()
        .filter(|(hijo, padre)| hijo != padre && dentro(hijo) && dentro(padre))
        .map(|(h, p)| (h, p))
        .collect();
    let mut puestas: Vec<T> = Vec::with_capacity(tablas.len());
    let mut quedan: Vec<&T> = tablas.iter().collect();
    loop {
        // The first remaining table all of whose parents are placed.
        let lista = quedan.iter().position(|t| {
            aristas
                .iter()
                .filter(|(hijo, _)| hijo == t)
                .all(|(_, padre)| puestas.contains(padre))
        });
        match lista {
            Some(i) => puestas.push(quedan.remove(i).clone()),
            None => break,
        }
    }
    let ciclo: Vec<T> = quedan.into_iter().cloned().collect();
    puestas.extend(ciclo.iter().cloned());
    (puestas, ciclo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_before_children() {
        // lineas -> pedidos -> clientes
        let (orden, ciclo) = padres_primero(
            &["lineas", "pedidos", "clientes"],
            &[("lineas", "pedidos"), ("pedidos", "clientes")],
        );
        assert_eq!(orden, vec!["clientes", "pedidos", "lineas"]);
        assert!(ciclo.is_empty());
    }

    #[test]
    fn independent_tables_keep_their_order_and_self_references_are_ignored() {
        let (orden, ciclo) = padres_primero(&["b", "a", "c"], &[("a", "a"), ("c", "fuera")]);
        assert_eq!(orden, vec!["b", "a", "c"]);
        assert!(ciclo.is_empty());
    }

    #[test]
    fn a_diamond_is_ordered() {
        let (orden, _) = padres_primero(
            &["d", "b", "c", "a"],
            &[("d", "b"), ("d", "c"), ("b", "a"), ("c", "a")],
        );
        assert_eq!(orden, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn a_cycle_is_reported_and_placed_last() {
        let (orden, ciclo) = padres_primero(&["x", "y", "z"], &[("x", "y"), ("y", "x")]);
        assert_eq!(orden, vec!["z", "x", "y"]);
        assert_eq!(ciclo, vec!["x", "y"]);
    }
}
