//! Work split across the ranks and put back together: each rank takes a contiguous
//! slice of the items ([`slice_of`]) and every rank ends with all of the results
//! ([`gather`]).

use std::ops::Range;

use anyhow::Result;

use super::Collective;

/// The items of `0..n` that rank `rank` of `world` takes: contiguous and balanced (the
/// ranks' counts differ by at most one; a rank gets none when `n < world`).
pub fn slice_of(n: usize, rank: usize, world: usize) -> Range<usize> {
    rank * n / world..(rank + 1) * n / world
}

/// Every rank's `mine` concatenated in rank order, on every rank; `lens[r]` is the length
/// of rank `r`'s part. Each part is broadcast from its rank in turn, as f64 bytes: the
/// values arrive exactly as computed.
pub fn gather(group: &dyn Collective, mine: &[f64], lens: &[usize]) -> Result<Vec<f64>> {
    anyhow::ensure!(
        lens.len() == group.world_size() && lens[group.rank()] == mine.len(),
        "gather: rank {} holds {} values, the layout {lens:?} says otherwise",
        group.rank(),
        mine.len()
    );
    let mut all = Vec::with_capacity(lens.iter().sum());
    for (root, &len) in lens.iter().enumerate() {
        let mut part = match root == group.rank() {
            true => mine.to_vec(),
            false => vec![0.0; len],
        };
        if group.world_size() > 1 {
            group.broadcast(bytemuck::cast_slice_mut(&mut part), root)?;
        }
        all.extend(part);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::slice_of;

    #[test]
    fn slices_cover_the_items_once_and_balance() {
        for n in 0..20 {
            for world in 1..6 {
                let parts: Vec<_> = (0..world).map(|r| slice_of(n, r, world)).collect();
                let joined: Vec<usize> = parts.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(joined, (0..n).collect::<Vec<_>>(), "n {n} world {world}");
                let lens: Vec<usize> = parts.iter().map(|r| r.len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "n {n} world {world}: {lens:?}");
            }
        }
    }
}
