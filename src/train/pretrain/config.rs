//! The configuration of a `dapt pretrain` run, made once from its flags
//! ([`PretrainConfig::new`], where every check that needs no data happens).

use anyhow::Result;

use super::args::{PretrainArgs, PretrainRecipe};
use crate::data::mask::MaskConfig;
use crate::train::run::{Command, RunOptions};

/// A checked `dapt pretrain` run.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// What the run does.
    pub recipe: PretrainRecipe,
    /// The masking the recipe describes, checked.
    pub mask: MaskConfig,
    /// Where and how it runs.
    pub run: RunOptions,
}

impl PretrainConfig {
    /// The configuration `args` describe; exit 2 naming the flag for a value that is
    /// wrong whatever the data.
    pub fn new(args: &PretrainArgs) -> Result<PretrainConfig> {
        let recipe = args.recipe.clone();
        recipe.optim.validate()?;
        let mask = recipe.mask_config();
        mask.validate()?;
        Ok(PretrainConfig {
            mask,
            run: args.run.options(Command::Pretrain)?,
            recipe,
        })
    }

    /// What every rank of a data-parallel run must have been given alike.
    pub fn identity(&self) -> String {
        format!(
            "{:?}\n{:?}\n{} {} {:?} {} {:?} {:?}",
            self.recipe,
            self.mask,
            self.run.outcome(),
            self.run.device_name,
            self.run.resume,
            self.run.keep_last,
            self.run.tensorboard,
            self.run.out
        )
    }
}
