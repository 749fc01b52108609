//! Layer-wise learning-rate decay (Howard & Ruder 2018, ULMFiT; Sun et al. 2019, "How to
//! Fine-Tune BERT for Text Classification"): lower layers hold more general features and
//! move less.

/// The factor on `--lr` of the parameter called `name` in a BERT or ELECTRA of
/// `num_layers` layers: 1 for the heads (classifier, pooler) and the top layer, `gamma`
/// per layer below it, `gamma^num_layers` for the embeddings (ELECTRA's
/// `embeddings_project` included).
pub fn layer_lr_scale(name: &str, num_layers: usize, gamma: f64) -> f64 {
    let name = ["bert.", "electra."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    let depth_below_top = if name.starts_with("embeddings") {
        num_layers
    } else if let Some(rest) = name.strip_prefix("encoder.layer.") {
        let layer: usize = rest
            .split('.')
            .next()
            .and_then(|i| i.parse().ok())
            .unwrap_or(num_layers.saturating_sub(1));
        num_layers.saturating_sub(1).saturating_sub(layer)
    } else {
        0
    };
    gamma.powi(depth_below_top as i32)
}

#[cfg(test)]
mod tests {
    use super::layer_lr_scale;

    #[test]
    fn heads_and_top_layer_full_rate_lower_layers_decayed() {
        let g = 0.5;
        let cases = [
            ("classifier.weight", 1.0),
            ("classifier.bias", 1.0),
            ("bert.pooler.dense.weight", 1.0),
            ("bert.encoder.layer.3.output.dense.weight", 1.0),
            ("bert.encoder.layer.3.attention.output.LayerNorm.bias", 1.0),
            ("bert.encoder.layer.2.attention.self.query.weight", 0.5),
            ("bert.encoder.layer.1.intermediate.dense.bias", 0.25),
            ("bert.encoder.layer.0.output.LayerNorm.weight", 0.125),
            ("bert.embeddings.word_embeddings.weight", 0.0625),
            ("bert.embeddings.LayerNorm.bias", 0.0625),
            ("classifier.out_proj.weight", 1.0),
            ("electra.encoder.layer.2.attention.self.query.weight", 0.5),
            ("electra.embeddings_project.weight", 0.0625),
            ("electra.embeddings.word_embeddings.weight", 0.0625),
        ];
        for (name, want) in cases {
            assert_eq!(layer_lr_scale(name, 4, g), want, "{name}");
        }
        // Two-digit layer indices parse as numbers, not digits.
        assert_eq!(
            layer_lr_scale("bert.encoder.layer.10.output.dense.weight", 12, g),
            0.5
        );
    }
}
