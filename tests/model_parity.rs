//! Encoder forward against the committed transformers fixture (tests/fixtures/model), at
//! the real (non-padding) positions; padding positions come out as zeros.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{max_abs, real_rows};
use dapt::model::dropout::Mode;
use dapt::model::{encoder::Encoder, BertConfig};

const FIX: &str = "tests/fixtures/model";

#[test]
fn last_hidden_state_matches_transformers() {
    let dev = Device::Cpu;
    let config = BertConfig::read(format!("{FIX}/mlm/config.json").as_ref()).unwrap();
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[format!("{FIX}/mlm/model.safetensors")],
            DType::F32,
            &dev,
        )
    }
    .unwrap();
    let enc = Encoder::new(&config, vb.pp("bert")).unwrap();
    let r = candle_core::safetensors::load(format!("{FIX}/reference.safetensors"), &dev).unwrap();
    let ids = r["input_ids"].to_dtype(DType::U32).unwrap();
    let types = r["token_type_ids"].to_dtype(DType::U32).unwrap();
    let mask = &r["attention_mask"];
    let h = enc.forward(&ids, &types, mask, &mut Mode::eval()).unwrap();
    let want: &Tensor = &r["mlm.last_hidden_state"];
    let (b, s, hid) = h.dims3().unwrap();
    let (h, want) = (
        h.reshape((b * s, hid)).unwrap(),
        want.reshape((b * s, hid)).unwrap(),
    );
    let diff = max_abs(&(real_rows(&h, mask) - real_rows(&want, mask)).unwrap());
    eprintln!("last hidden state max abs diff {diff} (real positions)");
    assert!(diff <= 1e-4, "max abs diff {diff}");
    let padding = ((mask.ones_like().unwrap() - mask).unwrap())
        .reshape(b * s)
        .unwrap();
    assert_eq!(
        max_abs(&real_rows(&h, &padding)),
        0.0,
        "padding rows are zero"
    );
}
