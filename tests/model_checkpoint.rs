//! Checkpoint I/O against the transformers-saved fixtures: loading HF dirs (with and
//! without the `bert.` prefix), atomic save with a manifest, and refusing corrupt files.

use std::collections::HashMap;
use std::path::Path;

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{max_abs, real_rows};
use dapt::model::bert::BertForMaskedLM;
use dapt::model::build::Init;
use dapt::model::checkpoint::{load_into, save};
use dapt::model::classifier::SequenceClassifier;
use dapt::model::dropout::Mode;
use dapt::model::params::named_vars;
use dapt::model::{encoder::Encoder, mlm_head::MlmHead, pair_head::PairHead, BertConfig};
use dapt::text::vocab::Vocab;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/model");

fn mlm_model(config: &BertConfig) -> VarMap {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    Encoder::new(config, vb.pp("bert")).unwrap();
    MlmHead::new(config, vb.pp("cls.predictions")).unwrap();
    vm
}

fn fixture_tensors(model: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(format!("{FIX}/{model}/model.safetensors"), &Device::Cpu)
        .unwrap()
}

fn assert_same(vm: &VarMap, reference: &HashMap<String, Tensor>) {
    for (name, var) in named_vars(vm) {
        let r = &reference[&name];
        assert_eq!(max_abs(&(var.as_tensor() - r).unwrap()), 0.0, "{name}");
    }
}

#[test]
fn hf_dir_loads_completely_and_round_trips_through_save() {
    let dir = Path::new(FIX).join("mlm");
    let config = BertConfig::read(&dir.join("config.json")).unwrap();
    let vm = mlm_model(&config);
    let report = load_into(&dir, &vm).unwrap();
    assert!(report.newly_initialized.is_empty(), "{report:?}");
    assert!(report.unused.is_empty(), "{report:?}");
    assert_same(&vm, &fixture_tensors("mlm"));

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ckpt");
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocab/oppo_vocab.txt");
    save(&out, &config, &named_vars(&vm), &[("vocab.txt", &vocab)]).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "config.json",
            "manifest.json",
            "model.safetensors",
            "vocab.txt"
        ]
    );
    // Nothing but the checkpoint is left in the parent (no temporary dir).
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    let again = mlm_model(&BertConfig::read(&out.join("config.json")).unwrap());
    assert!(load_into(&out, &again)
        .unwrap()
        .newly_initialized
        .is_empty());
    assert_same(&again, &fixture_tensors("mlm"));
}

#[test]
fn corrupt_or_truncated_checkpoints_are_refused() {
    let dir = Path::new(FIX).join("mlm");
    let config = BertConfig::read(&dir.join("config.json")).unwrap();
    let vm = mlm_model(&config);
    load_into(&dir, &vm).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ckpt");
    save(&out, &config, &named_vars(&vm), &[]).unwrap();
    let weights = out.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40; // one flipped bit in a weight
    std::fs::write(&weights, &bytes).unwrap();
    let err = load_into(&out, &mlm_model(&config)).unwrap_err();
    assert_eq!(dapt::error::exit_code(&err), 2);
    assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    // Truncated, and no manifest to catch it: the safetensors reader must.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    std::fs::write(&weights, &bytes[..n / 2]).unwrap();
    let err = load_into(&out, &mlm_model(&config)).unwrap_err();
    assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    // Hostile headers, no manifest: absurd shapes over 8 bytes of data (their product
    // overflowing too), and a header length of 2^60. Refused before any allocation.
    for shape in [
        "[1000000000000, 1000000000000]",
        "[4294967296, 4294967296, 4294967296]",
    ] {
        let header = format!(r#"{{"w":{{"dtype":"F32","shape":{shape},"data_offsets":[0,8]}}}}"#);
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header.as_bytes());
        file.extend_from_slice(&[0; 8]);
        std::fs::write(&weights, &file).unwrap();
        let err = load_into(&out, &mlm_model(&config)).unwrap_err();
        assert!(
            err.to_string().contains("truncated or corrupt"),
            "{shape}: {err}"
        );
    }
    let mut file = (1u64 << 60).to_le_bytes().to_vec();
    file.extend_from_slice(b"{}");
    std::fs::write(&weights, &file).unwrap();
    let err = load_into(&out, &mlm_model(&config)).unwrap_err();
    assert!(err.to_string().contains("truncated or corrupt"), "{err}");
}

#[test]
fn bert_model_weights_without_prefix_report_new_heads() {
    // A BertModel / sentence-transformers style file: encoder weights without `bert.`.
    let tmp = tempfile::tempdir().unwrap();
    let stripped: HashMap<String, Tensor> = fixture_tensors("cls")
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("bert.").map(|s| (s.to_string(), v)))
        .collect();
    candle_core::safetensors::save(&stripped, tmp.path().join("model.safetensors")).unwrap();
    let config = BertConfig::read(&Path::new(FIX).join("cls/config.json")).unwrap();
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    Encoder::new(&config, vb.pp("bert")).unwrap();
    PairHead::new(&config, 2, vb.pp("bert"), vb.clone()).unwrap();
    let report = load_into(tmp.path(), &vm).unwrap();
    assert_eq!(
        report.newly_initialized,
        ["classifier.bias", "classifier.weight"]
    );
    assert!(report.unused.is_empty());
    let reference = fixture_tensors("cls");
    let loaded = named_vars(&vm);
    let pooler = &loaded
        .iter()
        .find(|(n, _)| n == "bert.pooler.dense.weight")
        .unwrap()
        .1;
    let diff = max_abs(&(pooler.as_tensor() - &reference["bert.pooler.dense.weight"]).unwrap());
    assert_eq!(diff, 0.0);
}

/// Not a test on its own: writes a dapt-saved copy of the MLM and classification
/// fixtures to `$DAPT_CHECKPOINT_OUT/{mlm,cls}` for
/// tests/fixtures/model/check_transformers.py, which loads them with transformers.
#[test]
#[ignore]
fn write_checkpoints_for_transformers() {
    let out = std::path::PathBuf::from(
        std::env::var("DAPT_CHECKPOINT_OUT").expect("set DAPT_CHECKPOINT_OUT"),
    );
    for model in ["mlm", "cls"] {
        let dir = Path::new(FIX).join(model);
        let config = BertConfig::read(&dir.join("config.json")).unwrap();
        let vm = if model == "mlm" {
            mlm_model(&config)
        } else {
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
            Encoder::new(&config, vb.pp("bert")).unwrap();
            PairHead::new(
                &config,
                config.num_labels.unwrap_or(2),
                vb.pp("bert"),
                vb.clone(),
            )
            .unwrap();
            vm
        };
        assert!(load_into(&dir, &vm).unwrap().newly_initialized.is_empty());
        save(&out.join(model), &config, &named_vars(&vm), &[]).unwrap();
    }
}

/// A sentence-transformers dir (all-MiniLM-L6-v2's layout, made by
/// tests/fixtures/model/make_st_fixture.py): weights without `bert.`, pooler included,
/// `tokenizer.json` but no `vocab.txt`. It loads with the heads it lacks reported, reads
/// text as sentence-transformers does, and gives its token embeddings.
#[test]
fn sentence_transformers_dir_loads_reports_new_heads_and_matches() {
    let dir = Path::new(FIX).join("st");
    let config = BertConfig::read(&dir.join("config.json")).unwrap();
    let cpu = Device::Cpu;
    let (_, mlm) = BertForMaskedLM::new(&config, &cpu, Init::Checkpoint(&dir, 0)).unwrap();
    assert_eq!(
        mlm.newly_initialized,
        [
            "cls.predictions.bias",
            "cls.predictions.transform.LayerNorm.bias",
            "cls.predictions.transform.LayerNorm.weight",
            "cls.predictions.transform.dense.bias",
            "cls.predictions.transform.dense.weight",
        ]
    );
    assert_eq!(mlm.unused, ["pooler.dense.bias", "pooler.dense.weight"]);
    let (_, cls) = SequenceClassifier::new(&config, 2, &cpu, Init::Checkpoint(&dir, 0)).unwrap();
    assert_eq!(
        cls.newly_initialized,
        ["classifier.bias", "classifier.weight"]
    );
    assert!(cls.unused.is_empty(), "{:?}", cls.unused);

    let r =
        candle_core::safetensors::load(format!("{FIX}/st_reference.safetensors"), &cpu).unwrap();
    let tok = dapt::text::tokenizer::load(&Vocab::load(&dir).unwrap()).unwrap();
    let sentences = std::fs::read_to_string(format!("{FIX}/st_sentences.txt")).unwrap();
    let want_ids = r["input_ids"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec2::<u32>()
        .unwrap();
    for (sentence, want) in sentences.lines().zip(&want_ids) {
        let ids = tok.encode(sentence, true).unwrap().get_ids().to_vec();
        let unpadded: Vec<u32> = want.iter().copied().take_while(|&id| id != 0).collect();
        assert_eq!(ids, unpadded, "{sentence}");
    }

    let vm = mlm_model(&config);
    load_into(&dir, &vm).unwrap();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &cpu);
    let enc = Encoder::new(&config, vb.pp("bert")).unwrap();
    let h = enc
        .forward(
            &r["input_ids"].to_dtype(DType::U32).unwrap(),
            &r["token_type_ids"].to_dtype(DType::U32).unwrap(),
            None,
            &r["attention_mask"],
            &mut Mode::eval(),
        )
        .unwrap();
    let (b, s, hid) = h.dims3().unwrap();
    let mask = &r["attention_mask"];
    let h = real_rows(&h.reshape((b * s, hid)).unwrap(), mask);
    let want = real_rows(&r["token_embeddings"].reshape((b * s, hid)).unwrap(), mask);
    let diff = max_abs(&(h - want).unwrap());
    assert!(diff <= 1e-4, "token embeddings max abs diff {diff}");
}
