//! A hash map keyed by token bytes, fast for the short tokens real corpora are made of.
//!
//! Desensitized corpora are integer ids of 1–5 digits, so a token that is a canonical
//! decimal number below [`DENSE_LIMIT`] indexes a dense array directly (no hashing at
//! all). Other tokens of up to 7 bytes (most natural words) are packed with their length
//! into one `u64` key: hashing and comparing then costs one multiply and one integer
//! compare. Longer tokens go to an ordinary byte-keyed map. This is what lets
//! `dapt vocab` and `dapt encode` run at hundreds of MB/s.

use rustc_hash::FxHashMap;

/// Decimal tokens below this value live in the dense array (grown on demand, so a
/// corpus of small ids costs a few hundred KB, and a hostile one at most a few MB).
pub const DENSE_LIMIT: u32 = 1 << 20;

/// Map from a token (raw UTF-8 bytes) to a value.
#[derive(Debug, Clone)]
pub struct TokenMap<V> {
    dense: Vec<Option<V>>,
    short: FxHashMap<u64, V>,
    long: FxHashMap<Box<[u8]>, V>,
}

impl<V> Default for TokenMap<V> {
    fn default() -> Self {
        TokenMap {
            dense: Vec::new(),
            short: FxHashMap::default(),
            long: FxHashMap::default(),
        }
    }
}

/// The value of a canonical decimal token ("0", or digits without a leading zero) below
/// [`DENSE_LIMIT`]; `None` for anything else, which then takes the hashed paths.
#[inline]
pub fn small_int(token: &[u8]) -> Option<u32> {
    if token.is_empty() || token.len() > 7 || (token[0] == b'0' && token.len() > 1) {
        return None;
    }
    let mut v: u32 = 0;
    for &b in token {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    (v < DENSE_LIMIT).then_some(v)
}

/// Pack a token of at most 7 bytes with its length in the top byte (so "1" and "1\0"
/// never collide); `None` for longer tokens.
#[inline]
fn pack(token: &[u8]) -> Option<u64> {
    if token.len() > 7 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[..token.len()].copy_from_slice(token);
    buf[7] = token.len() as u8;
    Some(u64::from_le_bytes(buf))
}

fn unpack(key: u64) -> Vec<u8> {
    let bytes = key.to_le_bytes();
    bytes[..bytes[7] as usize].to_vec()
}

impl<V> TokenMap<V> {
    /// The value of `token`, if present.
    #[inline(never)]
    pub fn get(&self, token: &[u8]) -> Option<&V> {
        if let Some(i) = small_int(token) {
            return self.dense.get(i as usize).and_then(|v| v.as_ref());
        }
        match pack(token) {
            Some(k) => self.short.get(&k),
            None => self.long.get(token),
        }
    }

    /// The value of `token`, inserted with `default()` first if absent.
    #[inline(never)]
    pub fn entry(&mut self, token: &[u8], default: impl FnOnce() -> V) -> &mut V {
        if let Some(i) = small_int(token) {
            return self.dense_slot(i).get_or_insert_with(default);
        }
        match pack(token) {
            Some(k) => self.short.entry(k).or_insert_with(default),
            None => {
                if !self.long.contains_key(token) {
                    self.long.insert(token.into(), default());
                }
                self.long.get_mut(token).expect("just inserted")
            }
        }
    }

    /// Like [`TokenMap::get`] for a token whose [`small_int`] value is already known.
    #[inline]
    pub fn get_int(&self, value: u32) -> Option<&V> {
        self.dense.get(value as usize).and_then(|v| v.as_ref())
    }

    /// Like [`TokenMap::entry`] for a token whose [`small_int`] value is already known.
    #[inline]
    pub fn entry_int(&mut self, value: u32, default: impl FnOnce() -> V) -> &mut V {
        // Fast path first and small, so it inlines into the word scanner; a new token or
        // growing the array takes the out-of-line path.
        if self.dense.get(value as usize).is_some_and(|v| v.is_some()) {
            return self.dense[value as usize].as_mut().expect("checked");
        }
        self.insert_int(value, default)
    }

    #[cold]
    #[inline(never)]
    fn insert_int(&mut self, value: u32, default: impl FnOnce() -> V) -> &mut V {
        self.dense_slot(value).get_or_insert_with(default)
    }

    /// Insert or replace the value of `token`.
    pub fn insert(&mut self, token: &[u8], value: V) {
        if let Some(i) = small_int(token) {
            *self.dense_slot(i) = Some(value);
            return;
        }
        match pack(token) {
            Some(k) => {
                self.short.insert(k, value);
            }
            None => {
                self.long.insert(token.into(), value);
            }
        }
    }

    /// The dense slot of `i`, grown into if needed.
    fn dense_slot(&mut self, i: u32) -> &mut Option<V> {
        let i = i as usize;
        if i >= self.dense.len() {
            // Grow geometrically: ids arrive in any order.
            let new_len = (i + 1).max(2 * self.dense.len()).min(DENSE_LIMIT as usize);
            self.dense.resize_with(new_len, || None);
        }
        &mut self.dense[i]
    }

    /// Number of distinct tokens (counts the dense slots: not for hot loops).
    pub fn len(&self) -> usize {
        self.dense.iter().filter(|v| v.is_some()).count() + self.short.len() + self.long.len()
    }

    /// True when no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All (token bytes, value) pairs, in no particular order.
    pub fn into_vec(self) -> Vec<(Vec<u8>, V)> {
        let mut out: Vec<(Vec<u8>, V)> = Vec::with_capacity(self.len());
        out.extend(
            self.dense
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i.to_string().into_bytes(), v))),
        );
        out.extend(self.short.into_iter().map(|(k, v)| (unpack(k), v)));
        out.extend(self.long.into_iter().map(|(k, v)| (k.into_vec(), v)));
        out
    }
}

impl<V: Copy + std::ops::AddAssign> TokenMap<V> {
    /// Add every count of `other` into `self`.
    pub fn merge<W: Into<V>>(&mut self, other: TokenMap<W>) {
        for (i, w) in other.dense.into_iter().enumerate() {
            if let Some(w) = w {
                let slot = self.dense_slot(i as u32);
                match slot {
                    Some(v) => *v += w.into(),
                    None => *slot = Some(w.into()),
                }
            }
        }
        for (k, w) in other.short {
            let w: V = w.into();
            self.short.entry(k).and_modify(|v| *v += w).or_insert(w);
        }
        for (k, w) in other.long {
            let w: V = w.into();
            self.long.entry(k).and_modify(|v| *v += w).or_insert(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_with_zero_bytes_do_not_collide() {
        let mut m = TokenMap::default();
        m.insert(b"1", 1u32);
        m.insert(b"1\0", 2);
        m.insert(b"", 3);
        m.insert(b"12345678", 4); // long path
        assert_eq!(
            (
                m.get(b"1"),
                m.get(b"1\0"),
                m.get(b""),
                m.get(b"12345678"),
                m.get(b"1234567")
            ),
            (Some(&1), Some(&2), Some(&3), Some(&4), None)
        );
        let mut v = m.into_vec();
        v.sort();
        assert_eq!(v[0], (b"".to_vec(), 3));
    }

    #[test]
    fn merge_adds_counts_on_every_path() {
        let mut a = TokenMap::<u64>::default();
        let mut b = TokenMap::<u32>::default();
        for t in [&b"7"[..], b"x", b"a-long-token", b"7"] {
            *a.entry(t, || 0) += 1;
        }
        for t in [&b"7"[..], b"x", b"y", b"900000"] {
            *b.entry(t, || 0) += 1;
        }
        a.merge(b);
        let mut v = a.into_vec();
        v.sort();
        let expect: Vec<(Vec<u8>, u64)> = [
            ("7", 3),
            ("900000", 1),
            ("a-long-token", 1),
            ("x", 2),
            ("y", 1),
        ]
        .map(|(t, c)| (t.as_bytes().to_vec(), c))
        .to_vec();
        assert_eq!(v, expect);
    }
}
