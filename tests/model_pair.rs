//! Classification logits and gradients against the committed transformers fixture.

mod common;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use common::max_abs;
use dapt::model::{encoder::Encoder, pair_head::PairHead, BertConfig};

const FIX: &str = "tests/fixtures/model";

#[test]
fn classifier_logits_and_gradients_match_transformers() {
    let dev = Device::Cpu;
    let config = BertConfig::read(format!("{FIX}/cls/config.json").as_ref()).unwrap();
    let mut vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let enc = Encoder::new(&config, vb.pp("bert")).unwrap();
    let head = PairHead::new(&config, 2, vb.pp("bert"), vb.clone()).unwrap();
    vm.load(format!("{FIX}/cls/model.safetensors")).unwrap();

    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let types = r["token_type_ids"].to_dtype(DType::U32).unwrap();
    let h = enc.forward(&ids, &types, &r["attention_mask"]).unwrap();
    let logits = head.forward(&h).unwrap();
    let d = max_abs(&(&logits - &r["cls.logits"]).unwrap());
    eprintln!("classifier logits max abs diff {d}");
    assert!(d <= 1e-4);

    let objective = (logits * &r["cls_loss_weights"])
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = objective.backward().unwrap();
    let vars = vm.data().lock().unwrap();
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
