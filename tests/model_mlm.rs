//! MLM logits, loss and gradients against the committed transformers fixture.

mod common;

use candle_core::{DType, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{max_abs, real_rows};
use dapt::model::dropout::Mode;
use dapt::model::{encoder::Encoder, mlm_head, BertConfig};

const FIX: &str = "tests/fixtures/model";

#[test]
fn mlm_logits_loss_and_gradients_match_transformers() {
    let dev = common::test_device();
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
        .forward(&ids, &types, None, &r["attention_mask"], &mut Mode::eval())
        .unwrap();
    let (b, s, hid) = h.dims3().unwrap();
    let flat = h.reshape((b * s, hid)).unwrap();
    let words = enc.embeddings.word.embeddings();

    let mask = &r["attention_mask"];
    let logits = head.forward(&real_rows(&flat, mask), words).unwrap();
    let want = r["mlm.logits"].reshape((b * s, config.vocab_size)).unwrap();
    let d = max_abs(&(logits - real_rows(&want, mask)).unwrap());
    eprintln!("MLM logits max abs diff {d} (real positions)");
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

/// `detached()` (what held-out evaluation uses) gives exactly the model's loss, and its
/// loss reaches no variable: the forward pass recorded no autograd graph.
#[test]
fn detached_model_gives_the_same_loss_without_a_graph() {
    use dapt::data::collate::IGNORE_LABEL;
    use dapt::model::bert::BertForMaskedLM;
    use dapt::model::build::Init;
    let dev = common::test_device();
    let config = BertConfig::read(format!("{FIX}/mlm/config.json").as_ref()).unwrap();
    let dir = std::path::Path::new(FIX).join("mlm");
    let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Checkpoint(&dir, 0)).unwrap();
    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let batch = common::reference_batch(&r);
    let labels: Vec<i64> = r["labels"].flatten_all().unwrap().to_vec1().unwrap();
    assert!(labels.iter().any(|&l| l != IGNORE_LABEL));
    let tracked = model.loss(&batch, &mut Mode::eval()).unwrap().loss;
    let detached = model.detached().unwrap();
    let free = detached.loss(&batch, &mut Mode::eval()).unwrap().loss;
    let (a, b) = (
        tracked.to_scalar::<f32>().unwrap(),
        free.to_scalar::<f32>().unwrap(),
    );
    assert_eq!(a, b);
    assert!((a - r["mlm.loss"].to_vec1::<f32>().unwrap()[0]).abs() <= 1e-4);
    let grads = free.backward().unwrap();
    for (name, var) in dapt::model::params::named_vars(&detached.vars) {
        assert!(
            grads.get(var.as_tensor()).is_none(),
            "{name} got a gradient"
        );
    }
    assert!(tracked
        .backward()
        .unwrap()
        .get(
            dapt::model::params::named_vars(&model.vars)[0]
                .1
                .as_tensor()
        )
        .is_some());
}
