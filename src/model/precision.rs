//! Training precision: f32 throughout, or bf16 mixed precision (Micikevicius et al. 2018,
//! "Mixed Precision Training", with bfloat16's f32 exponent range so no loss scaling is
//! needed).
//!
//! With `bf16`, the weights, gradients and optimizer state stay f32 (master weights); the
//! encoder's dense layers and attention products and the MLM head's dense and decoder
//! run in bf16, each weight cast on use so its gradient flows back to the f32 master;
//! LayerNorm, the attention softmax and the loss run in f32 on activations cast up, and
//! the residual stream stays f32. This is PyTorch autocast's split. Embedding lookups,
//! the pair head and ELECTRA's small heads stay f32 (a few percent of the FLOPs).

use candle_core::{DType, Device};

/// The precision of a training run (`--precision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// f32 everywhere.
    #[default]
    F32,
    /// bf16 matrix products over f32 master weights.
    Bf16,
}

impl Precision {
    /// The dtype of the matrix products.
    pub fn compute_dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        }
    }

    /// A warning for `device`, if this precision is of no use there: on the CPU candle
    /// widens bf16 products to f32 and the fused f32 kernels are skipped, so bf16 is
    /// slower than f32 and only worth running to check the mixed-precision path.
    pub fn warning(self, device: &Device) -> Option<String> {
        (self == Precision::Bf16 && device.is_cpu()).then(|| {
            "--precision bf16 on the CPU runs the mixed-precision path but is slower than f32 \
             (no bf16 matrix units are used); use it on --device cuda:N"
                .to_string()
        })
    }
}
