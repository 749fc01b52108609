//! `dapt vocab` / `encode` / `inspect` on the shipped OPPO sample, checked against an
//! independent computation written here (plain HashMaps over the same file).

mod common;

use std::collections::HashMap;

use common::{arg, dapt, dapt_ok, lines, root, stderr};
use dapt::data::shard::Shard;

const SAMPLE: &str = "corpora/oppo_sample.tsv";

/// (text a, text b) of every line of the sample, words split on whitespace.
fn sample_pairs() -> Vec<(Vec<String>, Vec<String>)> {
    lines(&root().join(SAMPLE))
        .iter()
        .map(|l| {
            let mut f = l.split('\t');
            let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
            (w(f.next().unwrap()), w(f.next().unwrap()))
        })
        .collect()
}

fn reference_counts() -> Vec<(String, u64)> {
    let mut m: HashMap<String, u64> = HashMap::new();
    for (a, b) in sample_pairs() {
        for w in a.into_iter().chain(b) {
            *m.entry(w).or_default() += 1;
        }
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    v
}

#[test]
fn vocab_counts_and_order_match_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("v");
    dapt_ok(&[
        "vocab",
        "--input",
        SAMPLE,
        "--min-count",
        "3",
        "--out",
        arg(&out),
    ]);
    let counts: Vec<(String, u64)> = lines(&out.join("counts.tsv"))
        .iter()
        .map(|l| {
            let (t, c) = l.split_once('\t').unwrap();
            (t.to_string(), c.parse().unwrap())
        })
        .collect();
    let reference = reference_counts();
    assert_eq!(counts, reference);
    let vocab = lines(&out.join("vocab.txt"));
    let mut expected: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .map(String::from)
        .to_vec();
    expected.extend(
        reference
            .iter()
            .filter(|(_, c)| *c >= 3)
            .map(|(t, _)| t.clone()),
    );
    assert_eq!(vocab, expected);

    let capped = tmp.path().join("capped");
    dapt_ok(&[
        "vocab",
        "--input",
        SAMPLE,
        "--max-size",
        "100",
        "--out",
        arg(&capped),
    ]);
    assert_eq!(lines(&capped.join("vocab.txt")), {
        let mut e: Vec<String> = expected[..5].to_vec();
        e.extend(reference.iter().take(95).map(|(t, _)| t.clone()));
        e
    });
}

/// Independent encoding of one pair with rare placeholders (ids 5..5+r).
fn reference_encode(
    a: &[String],
    b: &[String],
    ids: &HashMap<String, u32>,
    r: u32,
) -> (Vec<u32>, Vec<u32>) {
    let mut unknown: Vec<String> = Vec::new();
    let mut enc = |text: &[String]| -> Vec<u32> {
        text.iter()
            .map(|w| match ids.get(w) {
                Some(&id) => id,
                None => match unknown.iter().position(|u| u == w) {
                    Some(k) => 5 + k as u32,
                    None if (unknown.len() as u32) < r => {
                        unknown.push(w.clone());
                        5 + unknown.len() as u32 - 1
                    }
                    None => 1,
                },
            })
            .collect()
    };
    let ea = enc(a);
    let eb = enc(b);
    (ea, eb)
}

#[test]
fn encode_round_trip_with_rare_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = (tmp.path().join("v"), tmp.path().join("s.shard"));
    dapt_ok(&[
        "vocab",
        "--input",
        SAMPLE,
        "--min-count",
        "3",
        "--rare-placeholders",
        "3",
        "--out",
        arg(&vocab),
    ]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        SAMPLE,
        "--out",
        arg(&shard),
    ]);
    let ids: HashMap<String, u32> = lines(&vocab.join("vocab.txt"))
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i as u32))
        .collect();
    assert_eq!(ids["[RARE0]"], 5);
    let s = Shard::open(&shard).unwrap();
    let pairs = sample_pairs();
    assert_eq!(
        s.num_docs(),
        3 * pairs.len(),
        "--pairs-as both: a, b and the pair"
    );
    let mut shared_rare = 0;
    for (i, (a, b)) in pairs.iter().enumerate() {
        let (ea, eb) = reference_encode(a, b, &ids, 3);
        let (da, db, dp) = (s.doc(3 * i), s.doc(3 * i + 1), s.doc(3 * i + 2));
        // Single documents number their own rare words from [RARE0].
        assert_eq!(
            da.ids(),
            reference_encode(a, &[], &ids, 3).0,
            "line {}",
            i + 1
        );
        assert_eq!(
            db.ids(),
            reference_encode(b, &[], &ids, 3).0,
            "line {}",
            i + 1
        );
        assert_eq!((da.split(), db.split()), (None, None));
        assert_eq!(dp.split(), Some(ea.len()));
        assert_eq!(
            dp.ids(),
            [ea.clone(), eb.clone()].concat(),
            "line {}",
            i + 1
        );
        assert!(
            (0..dp.len()).all(|j| dp.is_word_start(j)),
            "word-level: every token starts a word"
        );
        shared_rare += ea.iter().any(|x| (5..8).contains(x) && eb.contains(x)) as usize;
    }
    // The point of placeholders: the same unknown word in both texts keeps one id.
    assert!(
        shared_rare > 10,
        "only {shared_rare} pairs share a rare word"
    );
}

#[test]
fn encode_truncates_like_bert_tokenizer_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = (tmp.path().join("v"), tmp.path().join("s.shard"));
    dapt_ok(&["vocab", "--input", SAMPLE, "--out", arg(&vocab)]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        SAMPLE,
        "--pairs-as",
        "pair",
        "--max-len",
        "12",
        "--out",
        arg(&shard),
    ]);
    // (len a, len b) that BertTokenizerFast keeps with truncation="longest_first",
    // max_length=12 (tests/fixtures/vocab/make_fixtures.py).
    let path = root().join("tests/fixtures/vocab/oppo_truncated_lens.json");
    let expected: Vec<(usize, usize)> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = Shard::open(&shard).unwrap();
    assert_eq!(s.num_docs(), expected.len());
    let mut cut = 0;
    for (i, &(la, lb)) in expected.iter().enumerate() {
        assert_eq!(
            (s.doc(i).split(), s.doc(i).len()),
            (Some(la), la + lb),
            "line {}",
            i + 1
        );
        cut += (la + lb == 9) as usize;
    }
    assert!(
        cut > 100,
        "only {cut} pairs were long enough to be truncated"
    );
}

#[test]
fn both_mode_documents_equal_truncated_texts_and_pairs() {
    // With --max-len 12 a single text keeps 10 tokens and a pair the fixture's
    // longest-first lengths; each of the three documents must hold exactly those ids,
    // however the shard shares tokens between them. The shard goes into dirs that do not
    // exist yet: encode creates them.
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = (tmp.path().join("v"), tmp.path().join("new/dir/s.shard"));
    dapt_ok(&["vocab", "--input", SAMPLE, "--out", arg(&vocab)]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        SAMPLE,
        "--max-len",
        "12",
        "--out",
        arg(&shard),
    ]);
    let ids: HashMap<String, u32> = lines(&vocab.join("vocab.txt"))
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i as u32))
        .collect();
    let path = root().join("tests/fixtures/vocab/oppo_truncated_lens.json");
    let kept: Vec<(usize, usize)> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = Shard::open(&shard).unwrap();
    let pairs = sample_pairs();
    assert_eq!(s.num_docs(), 3 * pairs.len());
    for (i, ((a, b), &(ka, kb))) in pairs.iter().zip(&kept).enumerate() {
        let enc = |t: &[String]| -> Vec<u32> { t.iter().map(|w| ids[w]).collect() };
        let (ea, eb) = (enc(a), enc(b));
        let line = i + 1;
        assert_eq!(s.doc(3 * i).ids(), ea[..ea.len().min(10)], "line {line}");
        assert_eq!(
            s.doc(3 * i + 1).ids(),
            eb[..eb.len().min(10)],
            "line {line}"
        );
        let pair = s.doc(3 * i + 2);
        assert_eq!(pair.split(), Some(ka), "line {line}");
        assert_eq!(pair.ids(), [&ea[..ka], &eb[..kb]].concat(), "line {line}");
    }
}

#[test]
fn shard_from_another_vocab_is_refused_naming_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let (v1, v2, shard) = (
        tmp.path().join("v1"),
        tmp.path().join("v2"),
        tmp.path().join("s.shard"),
    );
    dapt_ok(&["vocab", "--input", SAMPLE, "--out", arg(&v1)]);
    dapt_ok(&[
        "vocab",
        "--input",
        SAMPLE,
        "--min-count",
        "2",
        "--out",
        arg(&v2),
    ]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&v1),
        "--input",
        SAMPLE,
        "--out",
        arg(&shard),
    ]);
    let out = dapt(&["inspect", arg(&shard), "--vocab", arg(&v2)]);
    assert_eq!(out.status.code(), Some(2));
    let h1 = dapt::text::vocab::Vocab::load(&v1).unwrap().sha256;
    let h2 = dapt::text::vocab::Vocab::load(&v2).unwrap().sha256;
    let err = stderr(&out);
    assert!(err.contains(&h1) && err.contains(&h2), "{err}");
}

#[test]
fn inspect_shows_header_and_decoded_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = (tmp.path().join("v"), tmp.path().join("s.shard"));
    dapt_ok(&["vocab", "--input", SAMPLE, "--out", arg(&vocab)]);
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        SAMPLE,
        "--out",
        arg(&shard),
    ]);
    let out = String::from_utf8(dapt_ok(&["inspect", arg(&shard), "--vocab", arg(&vocab)]).stdout)
        .unwrap();
    let first = &lines(&root().join(SAMPLE))[0];
    let (a, b) = first.split_once('\t').unwrap();
    assert!(out.contains("documents:       6000 (2000 pairs)"), "{out}");
    assert!(
        out.contains(&format!("doc 2: [CLS] {a} [SEP] {b} [SEP]")),
        "{out}"
    );
    let out = String::from_utf8(dapt_ok(&["inspect", arg(&vocab)]).stdout).unwrap();
    assert!(
        out.contains("[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4"),
        "{out}"
    );
}

#[test]
fn help_lists_every_subcommand_of_the_contract() {
    let out = String::from_utf8(dapt_ok(&["--help"]).stdout).unwrap();
    for c in [
        "vocab", "encode", "pretrain", "finetune", "predict", "eval", "pipeline", "inspect",
    ] {
        assert!(out.contains(&format!("  {c} ")), "--help lacks {c}: {out}");
    }
}

#[test]
fn config_file_supplies_flags_and_command_line_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "min_count = 100\n[vocab]\ninput = [\"{SAMPLE}\"]\nmin_count = 3\nout = \"{}\"\n",
            a.display()
        ),
    )
    .unwrap();
    dapt_ok(&["vocab", "--config", arg(&cfg)]);
    let expected = 5 + reference_counts().iter().filter(|(_, c)| *c >= 3).count();
    assert_eq!(
        lines(&a.join("vocab.txt")).len(),
        expected,
        "[vocab] table wins over the top level"
    );
    dapt_ok(&[
        "vocab",
        "--config",
        arg(&cfg),
        "--min-count",
        "2",
        "--out",
        arg(&b),
    ]);
    let expected = 5 + reference_counts().iter().filter(|(_, c)| *c >= 2).count();
    assert_eq!(
        lines(&b.join("vocab.txt")).len(),
        expected,
        "command line wins over the file"
    );
}
