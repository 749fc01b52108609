//! GELU in the erf form (transformers' `gelu`), element-wise in parallel.

use super::vector::{exp, map, map2};
use super::{f32s, fused};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

/// `x * (1 + erf(x / sqrt 2)) / 2` (candle's `gelu_erf` off the CPU).
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !fused(&[x]) {
        return x.gelu_erf();
    }
    x.contiguous()?.apply_op1(Gelu)
}

/// `erf(z)` given `e = exp(-z²)`, by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the
/// approximation PyTorch's vectorised CPU erf uses): cheaper than libm's `erff`, and the
/// gradient reuses the same exponential.
#[inline(always)]
fn erf_given_exp(z: f32, e: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_8,
        -1.453_152_1,
        1.061_405_4,
    ];
    let t = 1.0 / (1.0 + P * z.abs());
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (1.0 - poly * e).copysign(z)
}

/// `exp(-x² / 2)`, which is `exp(-z²)` for `z = x / sqrt 2`.
#[inline(always)]
fn gauss(x: f32) -> f32 {
    exp(-0.5 * x * x)
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    (erf_given_exp(x * std::f32::consts::FRAC_1_SQRT_2, gauss(x)) + 1.) * 0.5 * x
}

/// `d gelu / dx = (1 + erf(x / sqrt 2)) / 2 + x * exp(-x^2 / 2) / sqrt(2 pi)`.
#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let e = gauss(x);
    (erf_given_exp(x * std::f32::consts::FRAC_1_SQRT_2, e) + 1.) * 0.5 + x * e * INV_SQRT_2PI
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "dapt-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(storage, layout)?;
        Ok((CpuStorage::F32(map(x, gelu)), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?))
    }
}

/// `g * gelu'(x)` from the input `x` and the output gradient `g`.
struct GeluGrad;

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "dapt-gelu-erf-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let out = map2(x, g, |x, g| g * gelu_grad(x));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
