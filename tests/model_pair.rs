//! Classification logits and gradients against the committed transformers fixture.

mod common;

use candle_core::DType;
use common::max_abs;
use dapt::model::build::Init;
use dapt::model::classifier::SequenceClassifier;
use dapt::model::dropout::Mode;
use dapt::model::BertConfig;

const FIX: &str = "tests/fixtures/model";

#[test]
fn classifier_logits_and_gradients_match_transformers() {
    let dev = common::test_device();
    let config = BertConfig::read(format!("{FIX}/cls/config.json").as_ref()).unwrap();
    let dir = format!("{FIX}/cls");
    let (model, report) =
        SequenceClassifier::new(&config, 2, &dev, Init::Checkpoint(dir.as_ref(), 0)).unwrap();
    assert!(report.newly_initialized.is_empty(), "{report:?}");

    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let types = r["token_type_ids"].to_dtype(DType::U32).unwrap();
    let logits = model
        .forward(&ids, &types, None, &r["attention_mask"], &mut Mode::eval())
        .unwrap();
    let d = max_abs(&(&logits - &r["cls.logits"]).unwrap());
    eprintln!("classifier logits max abs diff {d}");
    assert!(d <= 1e-4);

    let objective = (logits * &r["cls_loss_weights"])
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = objective.backward().unwrap();
    let vars = model.vars.data().lock().unwrap();
    for name in [
        "classifier.weight",
        "bert.pooler.dense.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.1.intermediate.dense.weight",
    ] {
        let g = grads.get(vars[name].as_tensor()).expect(name);
        let want = &r[&format!("grad.cls.{name}")];
        let rel = max_abs(&(g - want).unwrap()) / max_abs(want);
        eprintln!("grad {name}: relative error {rel}");
        assert!(rel <= 1e-3, "{name}: {rel}");
    }
}
