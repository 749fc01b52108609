//! bf16 mixed precision (`--precision bf16`) against the transformers f32 fixture: the
//! same weights give the MLM loss and gradients within bf16's tolerances (bf16 keeps 8
//! significant bits, a relative step of 2^-8 = 0.4%), and the products really ran in
//! bf16 (the result moves away from the f32 one). On the CPU candle widens bf16
//! products to f32 and rounds the result back to bf16, which is what a GPU's bf16
//! matrix units with f32 accumulation give.

mod common;

use candle_core::{DType, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::max_abs;
use dapt::model::dropout::Mode;
use dapt::model::{encoder::Encoder, mlm_head, BertConfig, Precision};

const FIX: &str = "tests/fixtures/model";

/// Loss and the gradients of `names` of the fixture's MLM model on its reference batch,
/// with products in `precision`; also the transformers reference.
fn mlm_loss_and_grads(precision: Precision, names: &[&str]) -> (f32, Vec<Tensor>) {
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
    let mut mode = Mode::eval().with_compute(precision.compute_dtype());
    let h = enc
        .forward(&ids, &types, None, &r["attention_mask"], &mut mode)
        .unwrap();
    let (b, s, hid) = h.dims3().unwrap();
    assert_eq!(h.dtype(), DType::F32, "the residual stream stays f32");
    let labels: Vec<i64> = r["labels"].flatten_all().unwrap().to_vec1().unwrap();
    let (rows, targets) = mlm_head::masked_positions(&labels);
    let rows = h
        .reshape((b * s, hid))
        .unwrap()
        .index_select(&Tensor::new(rows, &dev).unwrap(), 0)
        .unwrap()
        .to_dtype(mode.compute())
        .unwrap();
    let logits = head
        .forward(&rows, enc.embeddings.word.embeddings())
        .unwrap();
    assert_eq!(logits.dtype(), precision.compute_dtype());
    let loss = mlm_head::mlm_loss(&logits, &Tensor::new(targets, &dev).unwrap()).unwrap();
    let grads = loss.backward().unwrap();
    let vars = vm.data().lock().unwrap();
    let g = names
        .iter()
        .map(|n| {
            let g = grads.get(vars[*n].as_tensor()).expect(n);
            assert_eq!(g.dtype(), DType::F32, "{n}: master gradients are f32");
            g.clone()
        })
        .collect();
    (loss.to_scalar::<f32>().unwrap(), g)
}

#[test]
fn bf16_mlm_loss_and_gradients_match_transformers_f32_within_bf16_tolerance() {
    let names = [
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.embeddings.position_embeddings.weight",
        "bert.encoder.layer.1.attention.output.LayerNorm.weight",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.bias",
    ];
    let r = candle_core::safetensors::load(
        format!("{FIX}/reference.safetensors"),
        &common::test_device(),
    )
    .unwrap();
    let want_loss = r["mlm.loss"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()[0];
    let (f32_loss, f32_grads) = mlm_loss_and_grads(Precision::F32, &names);
    let (bf16_loss, bf16_grads) = mlm_loss_and_grads(Precision::Bf16, &names);
    let rel = |a: f32| (a - want_loss).abs() / want_loss.abs();
    eprintln!(
        "loss: transformers f32 {want_loss}, dapt f32 {f32_loss} (rel {:e}), bf16 {bf16_loss} (rel {:e})",
        rel(f32_loss),
        rel(bf16_loss)
    );
    assert!(
        rel(bf16_loss) <= 1e-2,
        "bf16 loss off by {}",
        rel(bf16_loss)
    );
    // bf16 really ran: its rounding moves the loss further than f32's summation order.
    assert!(rel(bf16_loss) > 10.0 * rel(f32_loss).max(1e-7));
    for ((name, g), g32) in names.iter().zip(&bf16_grads).zip(&f32_grads) {
        let want = &r[&format!("grad.mlm.{name}")];
        let e = max_abs(&(g - want).unwrap()) / max_abs(want);
        let e32 = max_abs(&(g32 - want).unwrap()) / max_abs(want);
        eprintln!("grad {name}: relative error bf16 {e:e}, f32 {e32:e}");
        assert!(e <= 5e-2, "{name}: {e}");
    }
}
