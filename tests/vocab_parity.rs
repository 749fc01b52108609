//! dapt's vocabularies and encodings against Python `tokenizers` / `transformers`
//! (fixtures made by tests/fixtures/vocab/make_fixtures.py).

mod common;

use common::{arg, dapt_ok, lines, root};
use dapt::data::shard::Shard;

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures/vocab").join(name)
}

/// `[CLS] a [SEP] b [SEP]` ids of every pair document of a shard made with `--pairs-as pair`.
fn pair_ids(shard: &Shard, cls: u32, sep: u32) -> Vec<Vec<u32>> {
    (0..shard.num_docs())
        .map(|i| {
            let d = shard.doc(i);
            let s = d.split().expect("pair document");
            let ids = d.ids();
            let mut v = vec![cls];
            v.extend(&ids[..s]);
            v.push(sep);
            v.extend(&ids[s..]);
            v.push(sep);
            v
        })
        .collect()
}

fn expected_ids(name: &str) -> Vec<Vec<u32>> {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

#[test]
fn wordlevel_vocab_matches_python_wordlevel_trainer() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("vocab");
    dapt_ok(&[
        "vocab",
        "--input",
        "corpora/oppo_sample.tsv",
        "--min-count",
        "2",
        "--out",
        arg(&out),
    ]);
    let ours = lines(&out.join("vocab.txt"));
    let theirs = lines(&fixture("oppo_vocab.txt"));
    assert_eq!(ours.len(), theirs.len(), "vocabulary sizes differ");
    assert_eq!(ours, theirs);
}

#[test]
fn wordlevel_ids_match_bert_tokenizer_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = (tmp.path().join("vocab"), tmp.path().join("s.shard"));
    dapt_ok(&[
        "vocab",
        "--input",
        "corpora/oppo_sample.tsv",
        "--min-count",
        "2",
        "--out",
        arg(&vocab),
    ]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        "corpora/oppo_sample.tsv",
        "--pairs-as",
        "pair",
        "--out",
        arg(&shard),
    ]);
    let expected = expected_ids("oppo_ids.json");
    let ours = pair_ids(&Shard::open(&shard).unwrap(), 2, 3);
    assert_eq!(expected.len(), 300);
    // Some pairs must hold words below --min-count, or [UNK] handling went untested.
    assert!(expected.iter().any(|ids| ids.contains(&1)));
    assert_eq!(&ours[..expected.len()], &expected[..]);
}

#[test]
fn wordpiece_ids_match_bert_tokenizer_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("s.shard");
    let vocab = fixture("mrpc_dapt");
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--pairs-as",
        "pair",
        "--out",
        arg(&shard),
    ]);
    let expected = expected_ids("mrpc_ids.json");
    let ours = pair_ids(&Shard::open(&shard).unwrap(), 2, 3);
    assert_eq!(&ours[..expected.len()], &expected[..]);
    // Word starts: a token is a continuation exactly when it is a `##` piece.
    let v = lines(&vocab.join("vocab.txt"));
    let s = Shard::open(&shard).unwrap();
    for i in 0..50 {
        let d = s.doc(i);
        for j in 0..d.len() {
            assert_eq!(
                d.is_word_start(j),
                !v[d.id(j) as usize].starts_with("##"),
                "doc {i} token {j}"
            );
        }
    }
}

/// A hub checkpoint's tokenizer.json with all-MiniLM-L6-v2's settings (truncation and
/// fixed padding to 128, a TemplateProcessing post-processor): dapt ignores its padding
/// and truncation and reads pairs exactly as `BertTokenizerFast(a, b,
/// truncation="longest_first", max_length=40)` does, in shards and in fine-tuning.
#[test]
fn hub_tokenizer_padding_and_truncation_are_ignored() {
    let hub = fixture("hub_tokenizer");
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hub.join("tokenizer.json")).unwrap())
            .unwrap();
    assert_eq!(settings["padding"]["strategy"]["Fixed"], 128);
    assert_eq!(settings["truncation"]["max_length"], 128);
    let expected = expected_ids("hub_ids.json");
    // Some pairs must be truncated at 40, or truncation went untested.
    assert!(expected.iter().any(|ids| ids.len() == 40));
    assert!(expected.iter().any(|ids| ids.len() < 35));

    let vocab = dapt::text::vocab::Vocab::load(&hub).unwrap();
    let enc = dapt::data::pair_batch::PairEncoder::new(&vocab, 40).unwrap();
    let mut stats = Default::default();
    let corpus = std::fs::read_to_string(root().join("corpora/mrpc_sample.tsv")).unwrap();
    let ours: Vec<Vec<u32>> = corpus
        .lines()
        .take(expected.len())
        .map(|l| {
            let mut f = l.split('\t');
            let (a, b) = (f.next().unwrap(), f.next().unwrap());
            enc.encode(a, b, &mut stats).unwrap().ids
        })
        .collect();
    assert_eq!(ours, expected);

    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("s.shard");
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&hub),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--pairs-as",
        "pair",
        "--max-len",
        "40",
        "--out",
        arg(&shard),
    ]);
    let ours = pair_ids(&Shard::open(&shard).unwrap(), 2, 3);
    assert_eq!(&ours[..expected.len()], &expected[..]);
}

/// A tokenizer.json whose added tokens are not in vocab.txt would give ids past the
/// embedding matrix: refused with exit 2, naming both files.
#[test]
fn tokenizer_json_disagreeing_with_vocab_txt_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ckpt");
    std::fs::create_dir(&dir).unwrap();
    let hub = fixture("hub_tokenizer");
    let mut tj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hub.join("tokenizer.json")).unwrap())
            .unwrap();
    let n = lines(&hub.join("vocab.txt")).len();
    tj["added_tokens"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": n, "content": "<new>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    std::fs::write(dir.join("tokenizer.json"), tj.to_string()).unwrap();
    std::fs::copy(hub.join("vocab.txt"), dir.join("vocab.txt")).unwrap();
    let out = common::dapt(&[
        "encode",
        "--vocab",
        arg(&dir),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--out",
        arg(&tmp.path().join("s.shard")),
    ]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"<new>\"") && err.contains("vocab.txt"),
        "{err}"
    );
}
