//! Encoder forward against the committed transformers fixture (tests/fixtures/model), at
//! the real (non-padding) positions; padding positions come out as zeros.

use std::collections::HashMap;

mod common;

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use common::{max_abs, real_rows};
use dapt::model::dropout::Mode;
use dapt::model::{encoder::Encoder, BertConfig};

const FIX: &str = "tests/fixtures/model";

/// The fixture's MLM encoder, its inputs (ids and token types as u32) and its reference
/// tensors (the attention mask and transformers' outputs).
fn fixture_encoder() -> (Encoder, Tensor, Tensor, HashMap<String, Tensor>) {
    let dev = common::test_device();
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
    (enc, ids, types, r)
}

#[test]
fn last_hidden_state_matches_transformers() {
    let (enc, ids, types, r) = fixture_encoder();
    let mask = &r["attention_mask"];
    let h = enc
        .forward(&ids, &types, None, mask, &mut Mode::eval())
        .unwrap();
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

/// A sequence's hidden states do not depend on the batch it is in: each fixture row run
/// alone (no padding, so the encoder takes its reshape-only path) gives the batched
/// run's values at its real positions (the padding-free path with index maps).
#[test]
fn batching_with_padding_leaves_each_sequence_unchanged() {
    let (enc, ids, types, r) = fixture_encoder();
    let mask = &r["attention_mask"];
    let batched = enc
        .forward(&ids, &types, None, mask, &mut Mode::eval())
        .unwrap();
    let lengths: Vec<f32> = mask
        .to_dtype(DType::F32)
        .unwrap()
        .sum(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(lengths.iter().any(|&l| l < ids.dim(1).unwrap() as f32));
    for (row, &len) in lengths.iter().enumerate() {
        let len = len as usize;
        let alone = |t: &Tensor| t.narrow(0, row, 1).unwrap().narrow(1, 0, len).unwrap();
        let h = enc
            .forward(
                &alone(&ids),
                &alone(&types),
                None,
                &alone(mask).ones_like().unwrap(),
                &mut Mode::eval(),
            )
            .unwrap();
        let diff = max_abs(&(h - alone(&batched)).unwrap());
        eprintln!("row {row} (length {len}): alone vs batched max abs diff {diff}");
        assert!(diff <= 1e-5, "row {row}: {diff}");
    }
}
