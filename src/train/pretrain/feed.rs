//! The data cursor of a pretraining run: this rank's slice of each global batch of the
//! epoch plans, in order, as collated MLM batches. Where it stands is the run state's
//! `(epoch, batch_in_epoch, micro_step)`, so a resumed run reads on where it stopped.

use anyhow::Result;

use super::setup::epoch_plan;
use super::state::TrainerState;
use crate::data::batching::{BatchingConfig, EpochPlan};
use crate::data::collate::{Batch, Collator};
use crate::data::doc::{DocStore, Excluding};
use crate::data::shards::ShardSet;

/// The batches of a run, one epoch plan in memory at a time.
pub struct Feed<'a> {
    train: &'a Excluding<ShardSet>,
    batching: &'a BatchingConfig,
    collator: &'a Collator,
    seed: u64,
    /// This process and the number of processes.
    rank: usize,
    world: usize,
    plan: EpochPlan,
}

impl<'a> Feed<'a> {
    /// The cursor over `train` planned by `batching`, as process `rank` of `world`, at
    /// the epoch of `state`.
    pub fn new(
        train: &'a Excluding<ShardSet>,
        batching: &'a BatchingConfig,
        collator: &'a Collator,
        seed: u64,
        (rank, world): (usize, usize),
        state: &TrainerState,
    ) -> Result<Self> {
        Ok(Feed {
            plan: epoch_plan(train, batching, seed, state.epoch)?,
            train,
            batching,
            collator,
            seed,
            rank,
            world,
        })
    }

    /// This process's part of the next global batch, masked with the draws of
    /// micro-batch `state.micro_step`; advances `state` past it.
    pub fn next(&mut self, state: &mut TrainerState) -> Result<Batch> {
        if state.batch_in_epoch >= self.plan.num_batches() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            // The old plan goes before the next is built: one plan in memory at a time.
            self.plan = EpochPlan::default();
            self.plan = epoch_plan(self.train, self.batching, self.seed, state.epoch)?;
        }
        // This rank's slice of the global batch, collated with the rows' global keys, so
        // the ranks together draw what one process would.
        let global = self.plan.batch(state.batch_in_epoch);
        let per = global.len() / self.world;
        let seqs = &global[self.rank * per..(self.rank + 1) * per];
        // A corrupt block stops the run with its shard and block named, before its
        // documents are read (each block is checked once per run).
        for &d in seqs.iter().flatten() {
            self.train.verify(d)?;
        }
        let batch = self.collator.collate_rows(
            self.train,
            seqs,
            self.seed,
            state.micro_step,
            self.rank * per,
        );
        // The batch holds copies: its shard pages may leave the RSS (a page fault maps 64
        // KB or a whole large folio, so a few batches would map most of a shard).
        self.train.release_pages();
        state.micro_step += 1;
        state.batch_in_epoch += 1;
        Ok(batch)
    }
}
