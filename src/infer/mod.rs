//! Inference: loading fine-tuned classifiers, scoring pairs, fold ensembles with
//! test-time augmentation (`dapt predict`, `dapt eval`), checkpoint averaging (`dapt
//! average`) and stacking of runs (`dapt stack`).

pub mod average;
pub mod ensemble;
pub mod pair_model;
pub mod predict;
pub mod probs;
pub mod stack;
