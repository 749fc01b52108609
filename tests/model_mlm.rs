//! MLM logits, loss and gradients against the committed transformers fixture.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::max_abs;
use dapt::model::dropout::Mode;
use dapt::model::{encoder::Encoder, mlm_head, BertConfig};

const FIX: &str = "tests/fixtures/model";

#[test]
fn mlm_logits_loss_and_gradients_match_transformers() {
    let dev = Device::Cpu;
    let config = BertConfig::read(format!("{FIX}/mlm/config.json").as_ref()).unwrap();
    let mut vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let enc = Encoder::new(&config, vb.pp("bert")).unwrap();
    let head = mlm_head::MlmHead::new(&config, vb.pp("cls.predictions")).unwrap();
    vm.load(format!("{FIX}/mlm/model.safetensors")).unwrap();

    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let types = r["token_type_ids"].to_dtype(DType::U32).unwrap();
    let h = enc
        .forward(&ids, &types, &r["attention_mask"], &mut Mode::eval())
        .unwrap();
    let (b, s, hid) = h.dims3().unwrap();
    let flat = h.reshape((b * s, hid)).unwrap();
    let words = enc.embeddings.word.embeddings();

    let logits = head.forward(&flat, words).unwrap();
    let want = r["mlm.logits"].reshape((b * s, config.vocab_size)).unwrap();
    let d = max_abs(&(logits - want).unwrap());
    eprintln!("MLM logits max abs diff {d}");
    assert!(d <= 1e-4);

    // Loss computed on the gathered masked rows only.
    let labels: Vec<i64> = r["labels"].flatten_all().unwrap().to_vec1().unwrap();
    let (rows, targets) = mlm_head::masked_positions(&labels);
    let rows = Tensor::new(rows, &dev).unwrap();
    let targets = Tensor::new(targets, &dev).unwrap();
    let sel = head
        .forward(&flat.index_select(&rows, 0).unwrap(), words)
        .unwrap();
    let loss = mlm_head::mlm_loss(&sel, &targets).unwrap();
    let d = max_abs(&(loss.reshape(1).unwrap() - &r["mlm.loss"]).unwrap());
    eprintln!("MLM loss abs diff {d}");
    assert!(d <= 1e-4);

    let grads = loss.backward().unwrap();
    let vars = vm.data().lock().unwrap();
    for name in [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.position_embeddings.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.1.attention.output.LayerNorm.weight",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.bias",
    ] {
        let g = grads.get(vars[name].as_tensor()).expect(name);
        let want = &r[&format!("grad.mlm.{name}")];
        let rel = max_abs(&(g - want).unwrap()) / max_abs(want);
        eprintln!("grad {name}: relative error {rel}");
        assert!(rel <= 1e-3, "{name}: {rel}");
    }
}
