//! `dapt inspect PATH`: show what a vocabulary dir, a shard or a checkpoint dir holds.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args as ClapArgs;

use crate::data::shard::{Shard, MAGIC};
use crate::text::vocab::Vocab;

/// Show sizes, counts, header fields and the first documents of a dapt artifact.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// A vocabulary dir, a .shard file or a checkpoint dir
    pub path: PathBuf,
    /// Vocabulary to decode shard documents with (default: ./vocab if its hash matches)
    #[arg(long, value_name = "DIR")]
    pub vocab: Option<PathBuf>,
    /// How many documents or tokens to show
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub show: usize,
    /// For a shard: check every block against its checksum (exit 2 naming the first
    /// corrupt block)
    #[arg(long)]
    pub verify: bool,
}

/// Run `dapt inspect`.
pub fn run(args: Args) -> Result<()> {
    let p = &args.path;
    if p.is_dir() && p.join("config.json").exists() {
        inspect_checkpoint(p)
    } else if p.is_dir() && p.join("vocab.txt").exists() {
        inspect_vocab(p, args.show)
    } else if p.is_file() && starts_with_magic(p)? {
        inspect_shard(p, args.vocab.as_deref(), args.show, args.verify)
    } else {
        crate::bad_input!(
            "{}: not a vocabulary dir (vocab.txt), a checkpoint dir (config.json) or a dapt shard",
            p.display()
        )
    }
}

fn starts_with_magic(p: &Path) -> Result<bool> {
    use std::io::Read;
    let mut buf = [0u8; 8];
    let mut f = fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    Ok(f.read(&mut buf)? == 8 && &buf == MAGIC)
}

fn inspect_vocab(dir: &Path, show: usize) -> Result<()> {
    let v = Vocab::load(dir)?;
    println!("vocabulary: {}", dir.display());
    println!("  tokens:          {}", v.len());
    println!(
        "  tokenizer:       {:?} (lowercase: {})",
        v.meta.tokenizer, v.meta.lowercase
    );
    println!(
        "  special ids:     [PAD]={} [UNK]={} [CLS]={} [SEP]={} [MASK]={}",
        v.special.pad, v.special.unk, v.special.cls, v.special.sep, v.special.mask
    );
    println!("  rare placeholders: {}", v.rare.len());
    println!(
        "  min_count: {}  max_size: {:?}",
        v.meta.min_count, v.meta.max_size
    );
    println!("  vocab.txt sha256: {}", v.sha256);
    println!(
        "  tokenizer.json:  {}",
        if v.tokenizer_json().is_some() {
            "yes"
        } else {
            "no"
        }
    );
    if let Some(counts) = v.counts()? {
        // By count, not by id: WordPiece and checkpoint vocabularies are not in count
        // order. Bracketed tokens ([CLS], [unused7], [RARE0]) are not words.
        let mut ranked: Vec<(usize, u64)> = counts
            .iter()
            .copied()
            .enumerate()
            .filter(|(id, _)| {
                let t = v.token(*id as u32);
                !(t.starts_with('[') && t.ends_with(']'))
            })
            .collect();
        ranked.sort_by_key(|&(id, c)| (std::cmp::Reverse(c), id));
        println!("  most frequent tokens:");
        for (id, count) in ranked.into_iter().take(show) {
            println!("    {id:>7}  {:<20} {count}", v.token(id as u32));
        }
    }
    Ok(())
}

fn inspect_shard(path: &Path, vocab: Option<&Path>, show: usize, verify: bool) -> Result<()> {
    let shard = Shard::open(path)?;
    if verify {
        match shard.verify_all()? {
            0 => println!(
                "verify: {}: format version 2 has no checksums; re-encode to get them",
                path.display()
            ),
            n => println!(
                "verify: {}: all {n} blocks match their checksums",
                path.display()
            ),
        }
    }
    let h = shard.header();
    println!("shard: {}", path.display());
    println!("  format version:  {}", h.version);
    println!("  token width:     {} bytes", h.token_width);
    println!("  vocab size:      {}", h.vocab_size);
    println!("  vocab sha256:    {}", h.vocab_sha256);
    println!("  documents:       {} ({} pairs)", h.num_docs, h.num_pairs);
    println!(
        "  tokens:          {} (mean {:.2} per document)",
        h.num_tokens,
        h.num_tokens as f64 / h.num_docs.max(1) as f64
    );
    let vocab = match vocab {
        Some(dir) => {
            let v = Vocab::load(dir)?;
            shard.check_vocab(&v.sha256, dir)?;
            Some(v)
        }
        None => Vocab::load(Path::new("vocab"))
            .ok()
            .filter(|v| v.sha256 == h.vocab_sha256),
    };
    if vocab.is_none() {
        println!("  (ids shown; pass --vocab DIR to decode)");
    }
    for i in 0..show.min(shard.num_docs()) {
        let doc = shard.doc(i);
        let tok = |j: usize| match &vocab {
            Some(v) => v.token(doc.id(j)).to_string(),
            None => doc.id(j).to_string(),
        };
        let text = |r: std::ops::Range<usize>| r.map(tok).collect::<Vec<_>>().join(" ");
        let shown = match doc.split() {
            Some(s) => format!("[CLS] {} [SEP] {} [SEP]", text(0..s), text(s..doc.len())),
            None => format!("[CLS] {} [SEP]", text(0..doc.len())),
        };
        println!("  doc {i}: {shown}");
    }
    Ok(())
}

fn inspect_checkpoint(dir: &Path) -> Result<()> {
    println!("checkpoint: {}", dir.display());
    let config: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("config.json"))?)
        .with_context(|| format!("parsing {}", dir.join("config.json").display()))?;
    for key in [
        "architectures",
        "model_type",
        "vocab_size",
        "embedding_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "num_labels",
        "dapt_pooling",
        "dapt_match_embedding",
        "classifier_dropout",
    ] {
        if let Some(v) = config.get(key).filter(|v| !v.is_null()) {
            println!("  {key:<24} {v}");
        }
    }
    let weights = dir.join("model.safetensors");
    if weights.exists() {
        let bytes = fs::read(&weights)?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("reading {}", weights.display()))?;
        let tensors = meta.tensors();
        let params: usize = tensors
            .values()
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        println!(
            "  tensors:                 {} ({params} parameters)",
            tensors.len()
        );
    }
    for f in [
        "trainer_state.json",
        "optimizer.safetensors",
        "manifest.json",
        "vocab.txt",
        "tokenizer.json",
    ] {
        println!(
            "  {f:<24} {}",
            if dir.join(f).exists() { "yes" } else { "no" }
        );
    }
    if let Ok(state) = fs::read(dir.join("trainer_state.json")) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&state) {
            for key in ["step", "epoch", "best_metric"] {
                if let Some(x) = v.get(key) {
                    println!("  {key:<24} {x}");
                }
            }
        }
    }
    Ok(())
}
