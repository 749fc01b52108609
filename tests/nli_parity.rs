//! The 3-class (NLI) head against transformers: a tiny `BertForSequenceClassification`
//! with three named labels (tests/fixtures/nli, made by its make_fixtures.py) gives the
//! same logits in dapt, the same loss under PyTorch's class-weighted, label-smoothed
//! `CrossEntropyLoss`, the same gradients, and its label names are read from config.json.

mod common;

use candle_core::DType;
use common::max_abs;
use dapt::data::labels::Labels;
use dapt::model::build::Init;
use dapt::model::classifier::SequenceClassifier;
use dapt::model::dropout::Mode;
use dapt::model::BertConfig;
use dapt::train::loss::cross_entropy;

const FIX: &str = "tests/fixtures/nli";

#[test]
fn three_class_head_matches_transformers() {
    let dev = common::test_device();
    let dir = format!("{FIX}/cls3");
    let config = BertConfig::read(format!("{dir}/config.json").as_ref()).unwrap();
    let names = config.label_names().expect("id2label");
    assert_eq!(names, ["entailment", "neutral", "contradiction"]);
    assert_eq!(
        Labels::of_checkpoint(Some(&names), 3).names(),
        Some(&names[..])
    );
    let (model, report) =
        SequenceClassifier::new(&config, 3, &dev, Init::Checkpoint(dir.as_ref(), 0)).unwrap();
    assert!(report.newly_initialized.is_empty(), "{report:?}");

    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let types = r["token_type_ids"].to_dtype(DType::U32).unwrap();
    let logits = model
        .forward(&ids, &types, None, &r["attention_mask"], &mut Mode::eval())
        .unwrap();
    let d = max_abs(&(&logits - &r["logits"]).unwrap());
    eprintln!("3-class logits max abs diff {d}");
    assert!(d <= 1e-5, "{d}");

    let labels = r["labels"].to_dtype(DType::U32).unwrap();
    let loss = cross_entropy(&logits, &labels, Some(&[1.0, 1.3, 0.8]), 0.1).unwrap();
    let want = r["loss"].to_vec1::<f32>().unwrap()[0];
    let got = loss.to_scalar::<f32>().unwrap();
    eprintln!("loss {got} vs {want}");
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{got} vs {want}"
    );

    let grads = loss.backward().unwrap();
    let vars = model.vars.data().lock().unwrap();
    for name in [
        "classifier.weight",
        "classifier.bias",
        "bert.pooler.dense.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.1.intermediate.dense.weight",
    ] {
        let g = grads.get(vars[name].as_tensor()).expect(name);
        let want = &r[&format!("grad.{name}")];
        let rel = max_abs(&(g - want).unwrap()) / max_abs(want);
        eprintln!("grad {name}: relative error {rel}");
        assert!(rel <= 1e-4, "{name}: {rel}");
    }
}
