//! Parameters and gradients across the ranks of a data-parallel run: rank 0's weights
//! broadcast at the start, and every step's gradients summed in buckets.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};

use super::Collective;
use crate::optim::NamedParam;

/// Elements per all-reduce bucket: 25 MB of f32, PyTorch DDP's default bucket size. A
/// bucket bounds the host copy one reduction needs; a parameter larger than a bucket is
/// reduced alone.
pub const BUCKET: usize = 25 * (1 << 20) / 4;

/// Replace `grads` of `params` on every rank by their sum over the ranks of `group`,
/// reduced in buckets of `bucket_len` elements ([`BUCKET`] in training) in parameter
/// order, and `extra` (per-rank
/// scalars such as the loss and token counts) by their sums, in the last bucket. A
/// parameter without a gradient on this rank counts as zeros, so every rank reduces
/// the same layout. Nothing to do in a group of one.
pub fn all_reduce_grads(
    group: &dyn Collective,
    params: &[NamedParam],
    grads: &mut GradStore,
    extra: &mut [f32],
    bucket_len: usize,
) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    let mut bucket: Vec<f32> = Vec::new();
    let mut members: Vec<usize> = Vec::new();
    for (i, (_, var)) in params.iter().enumerate() {
        let n = var.elem_count();
        if !members.is_empty() && bucket.len() + n > bucket_len {
            reduce_bucket(group, params, grads, &mut bucket, &mut members)?;
        }
        match grads.get(var.as_tensor()) {
            Some(g) => bucket.extend(g.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?),
            None => bucket.resize(bucket.len() + n, 0.0),
        }
        members.push(i);
    }
    bucket.extend_from_slice(extra);
    reduce_bucket(group, params, grads, &mut bucket, &mut members)?;
    // The members' part is gone: the summed extras are all that is left.
    extra.copy_from_slice(&bucket);
    Ok(())
}

/// Sum `bucket` over the ranks and put the gradients of its `members` back; `members`
/// is left empty and `bucket` holds only what followed their part (the extras).
fn reduce_bucket(
    group: &dyn Collective,
    params: &[NamedParam],
    grads: &mut GradStore,
    bucket: &mut Vec<f32>,
    members: &mut Vec<usize>,
) -> Result<()> {
    group.all_reduce_sum(bucket)?;
    let mut at = 0;
    for &i in members.iter() {
        let var = params[i].1.as_tensor();
        let n = var.elem_count();
        let g = Tensor::from_slice(&bucket[at..at + n], var.shape(), var.device())?
            .to_dtype(var.dtype())?;
        grads.insert(var, g);
        at += n;
    }
    bucket.drain(..at);
    members.clear();
    Ok(())
}

/// Set `params` on every rank to rank 0's values.
pub fn broadcast_params(group: &dyn Collective, params: &[NamedParam]) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    for (_, var) in params {
        let t = var.as_tensor();
        let mut values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        group.broadcast(bytemuck::cast_slice_mut(&mut values), 0)?;
        var.set(&Tensor::from_vec(values, t.shape(), t.device())?.to_dtype(t.dtype())?)?;
    }
    Ok(())
}
