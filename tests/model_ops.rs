//! The fused kernels of `dapt::model::ops` against their composed candle versions:
//! forward values and the gradients autograd gets through each op's own backward.

use candle_core::{DType, Device, Tensor, Var};
use std::sync::Arc;

use dapt::model::ops::{self, composed};
use dapt::model::unpad::Unpad;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Largest absolute difference of two tensors, and the largest magnitude of `want`.
fn diff(got: &Tensor, want: &Tensor) -> (f32, f32) {
    assert_eq!(got.dims(), want.dims());
    let d = (got - want).unwrap().abs().unwrap().max_all().unwrap();
    let m = want.abs().unwrap().max_all().unwrap();
    let (d, m) = (
        d.to_dtype(DType::F32).unwrap(),
        m.to_dtype(DType::F32).unwrap(),
    );
    (d.to_scalar().unwrap(), m.to_scalar().unwrap())
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
    let (d, m) = diff(got, want);
    eprintln!("{what}: max abs diff {d} (max |want| {m})");
    assert!(
        d <= tol * m.max(1.0),
        "{what}: max abs diff {d} > {tol} * {m}"
    );
}

/// Seeded N(0, std) values (candle's CPU device cannot be seeded).
fn randn(shape: &[usize], std: f64, seed: u64) -> Tensor {
    let normal = Normal::new(0f32, std as f32).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// Runs `f` (fused) and `g` (composed) on fresh copies of `inputs`, compares outputs and
/// the gradients of `sum(out * weights)` with respect to every input.
fn check(
    what: &str,
    inputs: &[Tensor],
    tol: f32,
    f: impl Fn(&[Tensor]) -> Tensor,
    g: impl Fn(&[Tensor]) -> Tensor,
) {
    let run = |op: &dyn Fn(&[Tensor]) -> Tensor| {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let out = op(&ts);
        let weights = randn(out.dims(), 1.0, 99);
        let grads = (&out * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grads: Vec<Tensor> = ts.iter().map(|t| grads.get(t).unwrap().clone()).collect();
        (out, grads)
    };
    let (out, grads) = run(&f);
    let (want, want_grads) = run(&g);
    assert_close(&format!("{what} forward"), &out, &want, tol);
    for (i, (g, w)) in grads.iter().zip(&want_grads).enumerate() {
        assert_close(&format!("{what} grad of input {i}"), g, w, tol);
    }
}

/// Attention bias `(batch, keys)`: batch entry 1 has its last 3 keys padded, entry 2 all
/// of them (a fully masked row: uniform, as transformers gives).
fn mask_bias(batch: usize, keys: usize) -> Tensor {
    let mut bias = vec![0f32; batch * keys];
    bias[keys + keys - 3..2 * keys].fill(f32::MIN);
    bias[2 * keys..3 * keys].fill(f32::MIN);
    Tensor::from_vec(bias, (batch, keys), &Device::Cpu).unwrap()
}

#[test]
fn masked_softmax_matches_composed() {
    let (b, h, s) = (3, 2, 7);
    let bias = mask_bias(b, s);
    let scores = randn(&[b, h, s, s], 3.0, 1);
    let scale = 0.125;
    check(
        "masked_softmax",
        &[scores],
        1e-5,
        |x| ops::masked_softmax(&x[0], &bias, scale).unwrap(),
        |x| composed::masked_softmax(&x[0], &bias, scale).unwrap(),
    );
    // Padded keys get exactly zero probability; the fully masked entry is uniform.
    let p = ops::masked_softmax(&randn(&[b, h, s, s], 1.0, 2), &bias, 1.0).unwrap();
    let p: Vec<f32> = p.flatten_all().unwrap().to_vec1().unwrap();
    let row = |bi: usize, r: usize| &p[(bi * h * s + r) * s..][..s];
    for r in 0..h * s {
        assert!(row(1, r)[s - 3..].iter().all(|&v| v == 0.0));
        assert!(row(2, r).iter().all(|&v| (v - 1.0 / s as f32).abs() < 1e-6));
    }
}

#[test]
fn masked_softmax_accepts_non_contiguous_scores() {
    let bias = mask_bias(3, 5);
    let scores = randn(&[3, 2, 5, 5], 1.0, 3).transpose(2, 3).unwrap();
    let got = ops::masked_softmax(&scores, &bias, 0.5).unwrap();
    let want = composed::masked_softmax(&scores, &bias, 0.5).unwrap();
    assert_close("masked_softmax transposed", &got, &want, 1e-6);
}

#[test]
fn self_attention_matches_composed() {
    // Sequence 0 is full, 1 has padding at the end, 2 a hole inside; dropout p = 0.2.
    let (b, s, heads, hidden) = (3, 7, 2, 8);
    let mask: Vec<f32> = [
        [1.0; 7],
        [1., 1., 1., 1., 0., 0., 0.],
        [1., 1., 0., 1., 1., 0., 0.],
    ]
    .concat();
    let mask = Tensor::from_vec(mask, (b, s), &Device::Cpu).unwrap();
    let unpad = Unpad::new(&mask, heads).unwrap();
    let bias = ((&mask - 1.0).unwrap() * -(f32::MIN as f64)).unwrap();
    let tokens = 7 + 4 + 4;
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let keep: Vec<f32> = (0..b * heads * s * s)
        .map(|_| if rng.random_bool(0.2) { 0.0 } else { 1.25 })
        .collect();
    let keep_t = Tensor::from_vec(keep.clone(), (b, heads, s, s), &Device::Cpu).unwrap();
    let keep = Arc::new(keep);
    let scale = 0.5;
    let qkv: Vec<Tensor> = (0..3)
        .map(|i| randn(&[tokens, hidden], 1.0, 11 + i))
        .collect();
    check(
        "self_attention",
        &qkv,
        1e-5,
        |t| {
            ops::self_attention(
                &t[0],
                &t[1],
                &t[2],
                unpad.spans(),
                heads,
                scale,
                Some(keep.clone()),
            )
            .unwrap()
        },
        |t| {
            let split = |x: &Tensor| unpad.split_heads(x).unwrap();
            let (q, k, v) = (split(&t[0]), split(&t[1]), split(&t[2]));
            let scores = q.matmul(&k.t().unwrap()).unwrap();
            let probs = composed::masked_softmax(&scores, &bias, scale).unwrap();
            let ctx = (probs * &keep_t).unwrap().matmul(&v).unwrap();
            unpad.merge_heads(&ctx).unwrap()
        },
    );
}

#[test]
fn layer_norm_matches_composed() {
    // Rows with different means and scales, one constant row (variance 0).
    let mut x = randn(&[4, 5, 24], 2.0, 4)
        .broadcast_add(&randn(&[4, 5, 1], 5.0, 5))
        .unwrap();
    let constant = Tensor::full(3f32, (1, 5, 24), &Device::Cpu).unwrap();
    x = Tensor::cat(&[&x, &constant], 0).unwrap();
    let w = (randn(&[24], 0.5, 6) + 1.0).unwrap();
    let b = randn(&[24], 0.5, 7);
    // eps 1e-5: with BERT's 1e-12 the constant row's input gradient is ~1e6 and would
    // swamp the tolerance of the other rows.
    check(
        "layer_norm",
        &[x, w, b],
        1e-4,
        |t| ops::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
        |t| composed::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
    );
}

#[test]
fn layer_norm_weight_grad_sums_over_many_rows() {
    // More rows than one rayon task holds, so the partial sums are combined.
    let x = randn(&[3000, 16], 1.0, 8);
    let w = randn(&[16], 1.0, 9);
    let b = randn(&[16], 1.0, 10);
    check(
        "layer_norm 3000 rows",
        &[x, w, b],
        1e-4,
        |t| ops::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
        |t| composed::layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(),
    );
}

#[test]
fn dense_matches_composed() {
    // 3-d input (batch, seq, in) as in the encoder; 2-d as in the MLM decoder; rows not a
    // multiple of any task size.
    for (shape, out) in [(vec![3, 7, 48], 40), (vec![29, 64], 1000)] {
        let inp = *shape.last().unwrap();
        let x = randn(&shape, 1.0, 21);
        let w = randn(&[out, inp], 0.2, 22);
        let b = randn(&[out], 0.5, 23);
        check(
            &format!("dense {shape:?} -> {out}"),
            &[x, w, b],
            1e-5,
            |t| ops::dense(&t[0], &t[1], &t[2]).unwrap(),
            |t| composed::dense(&t[0], &t[1], &t[2]).unwrap(),
        );
    }
}

#[test]
fn scale_by_mask_gives_no_mask_gradient() {
    let x = randn(&[4, 9, 700], 1.0, 31);
    let mask = randn(&[4, 9, 700], 1.0, 32);
    let xv = Var::from_tensor(&x).unwrap();
    let out = ops::scale_by_mask(xv.as_tensor(), &mask).unwrap();
    assert_close("scale_by_mask forward", &out, &(&x * &mask).unwrap(), 0.0);
    let weights = randn(out.dims(), 1.0, 33);
    let grads = (&out * &weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let want = (&weights * &mask).unwrap();
    assert_close(
        "scale_by_mask grad",
        grads.get(xv.as_tensor()).unwrap(),
        &want,
        0.0,
    );
    assert!(grads.get(&mask).is_none());
}

#[test]
fn gelu_erf_matches_candle() {
    let x = randn(&[5, 3000], 3.0, 11);
    check(
        "gelu_erf",
        &[x],
        1e-5,
        |t| ops::gelu_erf(&t[0]).unwrap(),
        |t| t[0].gelu_erf().unwrap(),
    );
}

#[test]
fn cross_entropy_matches_composed() {
    let (rows, classes) = (37, 501);
    let logits = randn(&[rows, classes], 4.0, 12);
    let targets: Vec<u32> = (0..rows as u32).map(|r| r * 131 % classes as u32).collect();
    let targets = Tensor::new(targets, &Device::Cpu).unwrap();
    check(
        "cross_entropy",
        &[logits],
        1e-5,
        |t| ops::cross_entropy(&t[0], &targets).unwrap(),
        |t| composed::cross_entropy(&t[0], &targets).unwrap(),
    );
}

#[test]
fn cross_entropy_rejects_out_of_range_targets() {
    let logits = randn(&[2, 4], 1.0, 13);
    let targets = Tensor::new(&[1u32, 4], &Device::Cpu).unwrap();
    let err = ops::cross_entropy(&logits, &targets).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn non_f32_inputs_use_the_composed_ops() {
    let x = randn(&[2, 3, 8], 1.0, 14).to_dtype(DType::F64).unwrap();
    let w = Tensor::ones(8, DType::F64, &Device::Cpu).unwrap();
    let b = Tensor::zeros(8, DType::F64, &Device::Cpu).unwrap();
    let got = ops::layer_norm(&x, &w, &b, 1e-12).unwrap();
    assert_eq!(got.dtype(), DType::F64);
    let want = composed::layer_norm(&x, &w, &b, 1e-12).unwrap();
    assert_eq!(diff(&got, &want).0, 0.0);
}

#[test]
fn batched_matmul_matches_candle_for_every_transpose() {
    // (batch, heads, m, k) x (batch, heads, k, n), as attention's products.
    let (m, k, n) = (7, 5, 6);
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let a_shape = if ta { [3, 2, k, m] } else { [3, 2, m, k] };
        let b_shape = if tb { [3, 2, n, k] } else { [3, 2, k, n] };
        let (a, b) = (randn(&a_shape, 1.0, 31), randn(&b_shape, 1.0, 32));
        check(
            &format!("batched_matmul ta={ta} tb={tb}"),
            &[a, b],
            1e-5,
            |t| ops::batched_matmul(&t[0], &t[1], ta, tb).unwrap(),
            |t| {
                let a = if ta { t[0].t().unwrap() } else { t[0].clone() };
                let b = if tb { t[1].t().unwrap() } else { t[1].clone() };
                a.matmul(&b).unwrap()
            },
        );
    }
}
