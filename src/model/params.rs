//! The model's parameters as `(Hugging Face name, Var)` pairs, for the optimizer.

use candle_core::Var;
use candle_nn::VarMap;

/// Every variable of `vars` under its Hugging Face name, sorted by name so iteration order
/// (and thus optimizer state layout) is stable across runs.
pub fn named_vars(vars: &VarMap) -> Vec<(String, Var)> {
    let data = vars.data().lock().expect("VarMap lock poisoned");
    let mut named: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}
