//! The one-process group: world size 1, every collective the identity.

use anyhow::Result;

use super::Collective;

/// A group of one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }

    fn world_size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn broadcast(&self, _buf: &mut [u8], root: usize) -> Result<()> {
        anyhow::ensure!(root == 0, "broadcast from rank {root} in a group of one");
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}
