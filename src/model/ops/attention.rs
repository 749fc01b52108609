//! Scaled dot-product self-attention of the real tokens, from the Q/K/V rows to the
//! context rows, as one op.
//!
//! Composed, attention moves Q, K and V into the padded `(batch, heads, seq, head_dim)`
//! layout, builds `(batch, heads, seq, seq)` scores, probabilities and their dropout, and
//! moves the context back: eight autograd nodes per layer on padded tensors, for each of
//! which candle's backward zero-fills a gradient buffer and adds into it. Here each
//! `(sequence, head)` is two small GEMMs over its `n` real tokens, read and written in
//! place through strides (`n x n` instead of `seq x seq`: a padded key's weight is
//! exactly 0 in the composed version too), and the backward recomputes the `n x n`
//! probabilities instead of keeping them (attention is ~2% of a layer's FLOPs at these
//! lengths; FlashAttention, Dao et al. 2022, recomputes for the same reason). On
//! `bench/pretrain_compare.sh` (rtd, small) the bytes allocated per step halved (~320 ->
//! ~165 MB) and tokens/s rose 3-5%.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::softmax::{softmax_grad_in_place, softmax_in_place};
use super::{f32s, mul};

/// Where each sequence's real tokens sit among the `(tokens, hidden)` rows.
#[derive(Debug)]
pub struct Spans {
    /// Padded length (the dropout mask is `(batch, heads, seq, seq)`).
    pub seq: usize,
    /// Per sequence, its first row and its number of real tokens (rows are consecutive).
    pub spans: Vec<(usize, usize)>,
    /// Position within its sequence of each row.
    pub offsets: Vec<u32>,
}

/// Self-attention of `q`, `k`, `v` (`(tokens, hidden)`, contiguous CPU f32) in `heads`
/// heads, each query over the keys of its own sequence: `softmax(q kᵀ * scale) v`, with
/// the probabilities multiplied by `keep` (a `(batch, heads, seq, seq)` dropout mask of
/// 0 and `1 / (1 - p)`) when given. Returns the context rows `(tokens, hidden)`.
pub fn self_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    spans: Arc<Spans>,
    heads: usize,
    scale: f64,
    keep: Option<Arc<Vec<f32>>>,
) -> Result<Tensor> {
    let op = Attention {
        spans,
        heads,
        scale: scale as f32,
        keep,
    };
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

#[derive(Clone)]
struct Attention {
    spans: Arc<Spans>,
    heads: usize,
    scale: f32,
    keep: Option<Arc<Vec<f32>>>,
}

/// A raw pointer the `(sequence, head)` tasks share: each writes only its own rows'
/// columns of its head, so the writes never overlap.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: see above; the pointer outlives the parallel loop that uses it.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The element `offset` places in (a method, so closures capture the whole `Out`).
    ///
    /// SAFETY: `offset` lies inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

impl Attention {
    fn check(&self, l: &Layout) -> Result<(usize, usize)> {
        let (tokens, hidden) = l.shape().dims2()?;
        if self.heads == 0 || tokens != self.spans.offsets.len() || hidden % self.heads != 0 {
            bail!(
                "self_attention: rows ({tokens}, {hidden}) do not fit {} tokens in {} heads",
                self.spans.offsets.len(),
                self.heads
            )
        }
        // The kernels write every row exactly once through raw pointers: the spans must
        // tile the rows in order, and positions must lie inside the padded length.
        let mut next = 0;
        for &(row, n) in &self.spans.spans {
            if row != next {
                bail!("self_attention: a sequence starts at row {row}, expected {next}")
            }
            next += n;
        }
        let s = self.spans.seq;
        if next != tokens || self.spans.offsets.iter().any(|&o| o as usize >= s) {
            bail!("self_attention: spans of {next} rows for {tokens}, or a position past {s}")
        }
        if let Some(keep) = &self.keep {
            if keep.len() != self.spans.spans.len() * self.heads * s * s {
                bail!("self_attention: dropout mask of {} elements", keep.len())
            }
        }
        Ok((tokens, hidden))
    }

    /// The `(sequence, head)` tasks: sequence index, first row, tokens, head.
    fn tasks(&self) -> Vec<(usize, usize, usize, usize)> {
        let spans = self.spans.spans.iter().enumerate();
        spans
            .filter(|(_, &(_, n))| n > 0)
            .flat_map(|(b, &(row, n))| (0..self.heads).map(move |h| (b, row, n, h)))
            .collect()
    }

    /// Probabilities `p` (n x n) of one sequence and head from its queries and keys
    /// (pointers to their first element, row stride `hidden`).
    fn probs(&self, n: usize, q: *const f32, k: *const f32, hidden: usize, p: &mut [f32]) {
        let d = hidden / self.heads;
        // SAFETY: n rows of d columns from q and k at row stride hidden; p is n x n.
        unsafe {
            mul(
                (n, n, d),
                (p.as_mut_ptr(), n, 1),
                (q, hidden, 1),
                (k, 1, hidden),
                self.scale,
                Parallelism::None,
            )
        };
        p.chunks_mut(n).for_each(softmax_in_place);
    }

    /// The dropout mask (n x n) of sequence `b` (first row `row`), head `h`, gathered
    /// from the padded mask at its tokens' positions; `None` without dropout.
    fn mask(&self, (b, row, n, h): (usize, usize, usize, usize)) -> Option<Vec<f32>> {
        let keep = self.keep.as_ref()?;
        let s = self.spans.seq;
        let offsets = &self.spans.offsets[row..row + n];
        let base = (b * self.heads + h) * s * s;
        let mut m = Vec::with_capacity(n * n);
        for &si in offsets {
            let keep_row = &keep[base + si as usize * s..][..s];
            m.extend(offsets.iter().map(|&sj| keep_row[sj as usize]));
        }
        Some(m)
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "dapt-self-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (q, k, v) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let (tokens, hidden) = self.check(l1)?;
        if l2.dims() != l1.dims() || l3.dims() != l1.dims() {
            bail!(
                "self_attention: q {:?}, k {:?}, v {:?} differ",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )
        }
        let d = hidden / self.heads;
        let mut out = Vec::<f32>::with_capacity(tokens * hidden);
        let dst = Out(out.as_mut_ptr());
        self.tasks().into_par_iter().for_each(|task| {
            let (_, row, n, h) = task;
            let at = row * hidden + h * d;
            let mut p = vec![0f32; n * n];
            self.probs(n, q[at..].as_ptr(), k[at..].as_ptr(), hidden, &mut p);
            if let Some(m) = self.mask(task) {
                p.iter_mut().zip(&m).for_each(|(p, m)| *p *= m);
            }
            // SAFETY: this task's rows and head columns of out (tokens x hidden) and v.
            unsafe {
                mul(
                    (n, d, n),
                    (dst.at(at), hidden, 1),
                    (p.as_ptr(), n, 1),
                    (v[at..].as_ptr(), hidden, 1),
                    1.0,
                    Parallelism::None,
                )
            };
        });
        // SAFETY: the tasks cover every row (each belongs to one sequence) and head.
        unsafe { out.set_len(tokens * hidden) };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let qkv = Tensor::stack(&[q.detach(), k.detach(), v.detach()], 0)?;
        let d = qkv.apply_op2_no_bwd(&grad.contiguous()?, &AttentionGrad(self.clone()))?;
        Ok((Some(d.get(0)?), Some(d.get(1)?), Some(d.get(2)?)))
    }
}

/// The gradients `(3, tokens, hidden)` of q, k and v from `(q, k, v)` stacked and the
/// context's gradient.
struct AttentionGrad(Attention);

impl CustomOp2 for AttentionGrad {
    fn name(&self) -> &'static str {
        "dapt-self-attention-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = &self.0;
        let (qkv, g) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let (tokens, hidden) = a.check(l2)?;
        let block = tokens * hidden;
        if qkv.len() != 3 * block {
            bail!("self_attention backward: q, k, v of {} elements", qkv.len())
        }
        let d = hidden / a.heads;
        let mut out = Vec::<f32>::with_capacity(3 * block);
        let dst = Out(out.as_mut_ptr());
        a.tasks().into_par_iter().for_each(|task| {
            let (_, row, n, h) = task;
            let at = row * hidden + h * d;
            let q = qkv[at..].as_ptr();
            let k = qkv[block + at..].as_ptr();
            let v = qkv[2 * block + at..].as_ptr();
            let g = g[at..].as_ptr();
            let mut p = vec![0f32; n * n];
            a.probs(n, q, k, hidden, &mut p);
            let mask = a.mask(task);
            let kept: Vec<f32> = match &mask {
                Some(m) => p.iter().zip(m).map(|(p, m)| p * m).collect(),
                None => p.clone(),
            };
            let mut dp = vec![0f32; n * n];
            // SAFETY: this task's rows and head columns of the three (tokens x hidden)
            // blocks of out and of q, k, v and g; dp and kept are n x n.
            unsafe {
                // d v = keptᵀ · g;  d kept = g · vᵀ.
                let dv = dst.at(2 * block + at);
                mul(
                    (n, d, n),
                    (dv, hidden, 1),
                    (kept.as_ptr(), 1, n),
                    (g, hidden, 1),
                    1.0,
                    Parallelism::None,
                );
                mul(
                    (n, n, d),
                    (dp.as_mut_ptr(), n, 1),
                    (g, hidden, 1),
                    (v, 1, hidden),
                    1.0,
                    Parallelism::None,
                );
            }
            // Through the dropout mask (d p = d kept * mask), then the softmax:
            // d s = p (d p - sum_j d p * p), times the scale.
            if let Some(m) = &mask {
                dp.iter_mut().zip(m).for_each(|(g, m)| *g *= m);
            }
            for (dp, p) in dp.chunks_mut(n).zip(p.chunks(n)) {
                softmax_grad_in_place(p, dp, a.scale);
            }
            // SAFETY: as above.
            unsafe {
                // d q = d s · k;  d k = d sᵀ · q.
                let (dq, dk) = (dst.at(at), dst.at(block + at));
                mul(
                    (n, d, n),
                    (dq, hidden, 1),
                    (dp.as_ptr(), n, 1),
                    (k, hidden, 1),
                    1.0,
                    Parallelism::None,
                );
                mul(
                    (n, d, n),
                    (dk, hidden, 1),
                    (dp.as_ptr(), 1, n),
                    (q, hidden, 1),
                    1.0,
                    Parallelism::None,
                );
            }
        });
        // SAFETY: the tasks cover every row and head of the three blocks.
        unsafe { out.set_len(3 * block) };
        Ok((CpuStorage::F32(out), Shape::from((3, tokens, hidden))))
    }
}
