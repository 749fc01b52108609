//! Unsupervised data augmentation (Xie et al. 2020, <https://arxiv.org/abs/1904.12848>):
//! each micro-batch also draws unlabelled pairs and augmented copies of them, and the
//! loss adds λ times the consistency of the model's predictions on the two (`--uda`).
//! The unlabelled pairs, their augmentation, the flags and the loss terms are in [`data`].

pub mod data;

use anyhow::Result;
use candle_core::{Device, Tensor};

use super::Technique;
use crate::data::pair_batch::{PairEncoder, PairTensors};
use crate::train::tasks::pair::MicroBatch;
use data::{consistency, UdaArgs, UdaData};

/// UDA over its unlabelled pairs.
pub struct Uda<'a> {
    data: &'a UdaData,
    encoder: &'a PairEncoder<'a>,
    weight: f64,
    temperature: f64,
    confidence: f64,
}

impl<'a> Uda<'a> {
    /// UDA with `args`' λ, τ and β over `data`, whose augmented copies `encoder` encodes.
    pub fn new(args: &UdaArgs, data: &'a UdaData, encoder: &'a PairEncoder<'a>) -> Self {
        Uda {
            data,
            encoder,
            weight: args.uda_weight,
            temperature: args.uda_temperature,
            confidence: args.uda_confidence,
        }
    }
}

impl Technique for Uda<'_> {
    fn flag(&self) -> &'static str {
        "--uda"
    }

    fn refuses_data_parallel(&self) -> Option<&'static str> {
        Some("every rank would draw the same unlabelled pairs")
    }

    fn unlabelled(
        &self,
        key: (u64, u64, u64),
        match_embedding: bool,
        device: &Device,
    ) -> Result<Option<(PairTensors, PairTensors)>> {
        self.data
            .batch(self.encoder, key, match_embedding, device)
            .map(Some)
    }

    fn extra_loss(
        &self,
        forward: &mut dyn FnMut(&PairTensors) -> Result<Tensor>,
        micro: &MicroBatch,
    ) -> Result<Option<Tensor>> {
        let Some((original, augmented)) = &micro.unlabelled else {
            return Ok(None);
        };
        // The target pass needs no gradient: its logits are detached.
        let z = forward(original)?.detach();
        let (c, _) = consistency(&z, &forward(augmented)?, self.temperature, self.confidence)?;
        Ok(Some((c * self.weight)?))
    }
}
