//! A consistent-hash ring over worker names, for sticky routing.
//!
//! Each worker owns [`POINTS_PER_WORKER`] points on a 64-bit ring, placed by hashing its name;
//! a key belongs to the first point at or after the key's hash. Adding a worker moves only the
//! keys that land on its new points; removing one moves only the keys it owned. The hash is a
//! fixed function (FNV-1a then a 64-bit finaliser), not `std`'s `DefaultHasher`, so the same
//! key maps to the same worker name in every process and every Rust release.

/// Points per worker: enough that 4 workers each get 25 % ± a few % of the keys.
pub(crate) const POINTS_PER_WORKER: u32 = 128;

/// The ring: sorted points, each naming a worker by its index in the list it was built from.
#[derive(Debug, Default, Clone)]
pub(crate) struct HashRing {
    points: Vec<(u64, usize)>,
}

impl HashRing {
    /// A ring over `names` (index `i` of the result refers to `names[i]`).
    pub(crate) fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut points = Vec::new();
        for (index, name) in names.into_iter().enumerate() {
            for point in 0..POINTS_PER_WORKER {
                points.push((hash_parts(name.as_bytes(), point), index));
            }
        }
        points.sort_unstable();
        Self { points }
    }

    /// The index of the worker that owns `key`, or `None` on an empty ring.
    pub(crate) fn owner(&self, key: &str) -> Option<usize> {
        let h = hash_parts(key.as_bytes(), u32::MAX);
        let at = self.points.partition_point(|(p, _)| *p < h);
        self.points.get(at).or_else(|| self.points.first()).map(|(_, index)| *index)
    }
}

fn hash_parts(bytes: &[u8], salt: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes.iter().chain(salt.to_le_bytes().iter()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV alone clusters similar names (`w1`, `w2`, ...); the finaliser spreads them.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(ring: &HashRing, names: &[&str], keys: usize) -> Vec<String> {
        (0..keys).map(|k| names[ring.owner(&format!("key-{k}")).expect("non-empty")].to_owned()).collect()
    }

    #[test]
    fn removing_a_worker_moves_only_the_keys_it_owned() {
        let before_names = ["w0", "w1", "w2", "w3"];
        let after_names = ["w0", "w1", "w3"];
        let before = owners(&HashRing::new(before_names), &before_names, 10_000);
        let after = owners(&HashRing::new(after_names), &after_names, 10_000);
        for (b, a) in before.iter().zip(&after) {
            if b != "w2" {
                assert_eq!(b, a, "a key not owned by the removed worker moved");
            }
        }
    }

    #[test]
    fn adding_a_worker_moves_keys_only_to_it() {
        let before_names = ["w0", "w1", "w2"];
        let after_names = ["w0", "w1", "w2", "w3"];
        let before = owners(&HashRing::new(before_names), &before_names, 10_000);
        let after = owners(&HashRing::new(after_names), &after_names, 10_000);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!(before.iter().zip(&after).all(|(b, a)| b == a || a == "w3"));
        assert!((1_500..=3_500).contains(&moved), "about a quarter of the keys should move, {moved} did");
    }

    #[test]
    fn keys_spread_over_all_workers() {
        let names = ["w0", "w1", "w2", "w3"];
        let owned = owners(&HashRing::new(names), &names, 10_000);
        for name in names {
            let n = owned.iter().filter(|o| *o == name).count();
            assert!((1_800..=3_200).contains(&n), "{name} owns {n} of 10,000 keys");
        }
    }

    #[test]
    fn an_empty_ring_has_no_owner() {
        assert_eq!(HashRing::new([]).owner("k"), None);
    }
}
