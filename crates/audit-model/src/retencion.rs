//! Ids removed by retention, as `audit.retenciones` records them: ranges of
//! ids that held events of a dropped partition and no event of any other.
//! Verification asks it whether a sealed event missing from the log was
//! purged (expected) or deleted (tampering).

use crate::huella::Hoja;

/// Closed ranges `[lo, hi]` of purged ids, sorted and merged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purgados {
    rangos: Vec<(i64, i64)>,
}

impl Purgados {
    /// From ranges in any order, possibly overlapping or empty (`lo > hi`).
    pub fn new(rangos: impl IntoIterator<Item = (i64, i64)>) -> Purgados {
        let mut sorted: Vec<(i64, i64)> = rangos.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        sorted.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
        for (lo, hi) in sorted {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Purgados { rangos: merged }
    }

    pub fn is_empty(&self) -> bool {
        self.rangos.is_empty()
    }

    /// Whether `id` lies in a purged range.
    pub fn contiene(&self, id: i64) -> bool {
        // The last range starting at or before id is the only candidate.
        let i = self.rangos.partition_point(|(lo, _)| *lo <= id);
        i > 0 && id <= self.rangos[i - 1].1
    }

    /// The sealed events of a block that retention has not removed, and how
    /// many it removed.
    pub fn sin_purgadas(&self, selladas: Vec<Hoja>) -> (Vec<Hoja>, i64) {
        if self.is_empty() {
            return (selladas, 0);
        }
        let total = selladas.len();
        let quedan: Vec<Hoja> = selladas
            .into_iter()
            .filter(|h| !self.contiene(h.id))
            .collect();
        let purgadas = (total - quedan.len()) as i64;
        (quedan, purgadas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoja(id: i64) -> Hoja {
        Hoja {
            id,
            huella: [0; 32],
        }
    }

    #[test]
    fn ranges_are_closed_sorted_and_merged() {
        let p = Purgados::new([(20, 30), (1, 5), (6, 8), (25, 40), (50, 49)]);
        assert_eq!(p.rangos, vec![(1, 8), (20, 40)]);
        for id in [1, 5, 6, 8, 20, 33, 40] {
            assert!(p.contiene(id), "{id} is purged");
        }
        for id in [0, 9, 19, 41, 49, 50, i64::MAX, i64::MIN] {
            assert!(!p.contiene(id), "{id} is not purged");
        }
    }

    #[test]
    fn nothing_purged_keeps_every_sealed_event() {
        let p = Purgados::new([]);
        assert!(p.is_empty());
        let (quedan, purgadas) = p.sin_purgadas(vec![hoja(1), hoja(2)]);
        assert_eq!(quedan.len(), 2);
        assert_eq!(purgadas, 0);
    }

    #[test]
    fn purged_sealed_events_are_removed_and_counted() {
        let p = Purgados::new([(10, 12), (i64::MAX - 1, i64::MAX)]);
        let (quedan, purgadas) =
            p.sin_purgadas(vec![hoja(9), hoja(10), hoja(12), hoja(13), hoja(i64::MAX)]);
        assert_eq!(quedan.iter().map(|h| h.id).collect::<Vec<_>>(), vec![9, 13]);
        assert_eq!(purgadas, 3);
    }
}
