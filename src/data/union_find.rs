//! Disjoint sets over sentences: the graph whose nodes are texts and whose edges are
//! pairs, shared by component-wise folds and transitive-closure augmentation.

use std::collections::HashMap;

/// Union–find with path halving and union by size.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    /// The representative of `x`'s set.
    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Merge the sets of `a` and `b`.
    pub fn union(&mut self, a: usize, b: usize) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
    }
}

/// Dense ids for the distinct texts of pairs: `ids[i] = (id of a, id of b)` of pair i.
pub fn text_ids<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> (Vec<(usize, usize)>, usize) {
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    let mut id = |t: &'a str| {
        let n = index.len();
        *index.entry(t).or_insert(n)
    };
    let ids: Vec<(usize, usize)> = pairs.map(|(a, b)| (id(a), id(b))).collect();
    (ids, index.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_and_text_ids() {
        let (ids, n) = text_ids([("x", "y"), ("y", "z"), ("u", "v")].into_iter());
        assert_eq!((ids, n), (vec![(0, 1), (1, 2), (3, 4)], 5));
        let mut uf = UnionFind::new(5);
        uf.union(0, 1);
        uf.union(1, 2);
        uf.union(3, 4);
        assert_eq!(uf.find(0), uf.find(2));
        assert_ne!(uf.find(0), uf.find(3));
    }
}
