//! The shard file: documents spread over many blocks read back exactly, shared-token
//! views, and corruption (hostile sizes included) refused on open, never a panic.

use dapt::data::shard::{DocBlock, Shard, ShardWriter};

/// Write `blocks` (each a list of (ids, split)) as one block each; returns the path.
fn write(dir: &std::path::Path, blocks: &[Vec<(Vec<u32>, Option<usize>)>]) -> std::path::PathBuf {
    let path = dir.join("t.shard");
    let mut w = ShardWriter::create(&path, 70_000, "ab").unwrap();
    for docs in blocks {
        let mut block = DocBlock::new(70_000);
        for (ids, split) in docs {
            let start = block.num_tokens();
            let ws: Vec<bool> = ids.iter().map(|&id| id % 2 == 0).collect();
            block.extend(ids, &ws);
            block.add_doc(start, ids.len(), *split);
        }
        w.append(&block).unwrap();
    }
    w.finish(&path).unwrap();
    path
}

#[test]
fn documents_over_many_blocks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    // 70,000 ids need 4-byte tokens; block sizes cross the 64-bit bitmap words.
    let blocks: Vec<Vec<(Vec<u32>, Option<usize>)>> = (0..5u32)
        .map(|b| {
            (0..(b * 7 + 1))
                .map(|d| {
                    let ids: Vec<u32> = (0..(d * 13 % 70)).map(|t| 69_000 + b * 100 + t).collect();
                    let split = (d % 2 == 1).then_some(ids.len() / 2);
                    (ids, split)
                })
                .collect()
        })
        .collect();
    let s = Shard::open(&write(dir.path(), &blocks)).unwrap();
    let all: Vec<&(Vec<u32>, Option<usize>)> = blocks.iter().flatten().collect();
    assert_eq!(s.num_docs(), all.len());
    assert_eq!(s.header().token_width, 4);
    for (i, (ids, split)) in all.iter().enumerate() {
        let d = s.doc(i);
        assert_eq!(&d.ids(), ids, "doc {i}");
        assert_eq!(d.split(), *split, "doc {i}");
        for (j, &id) in ids.iter().enumerate() {
            assert_eq!(d.is_word_start(j), id % 2 == 0, "doc {i} token {j}");
        }
    }
}

#[test]
fn documents_can_share_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.shard");
    let mut w = ShardWriter::create(&path, 100, "ab").unwrap();
    let mut block = DocBlock::new(100);
    block.extend(&[7, 8, 9, 10, 11], &[true, false, true, true, false]);
    block.add_doc(0, 2, None);
    block.add_doc(2, 3, None);
    block.add_doc(0, 5, Some(2));
    w.append(&block).unwrap();
    let h = w.finish(&path).unwrap();
    assert_eq!((h.num_docs, h.num_tokens, h.num_pairs), (3, 5, 1));
    let s = Shard::open(&path).unwrap();
    assert_eq!(s.doc(0).ids(), [7, 8]);
    assert_eq!(s.doc(1).ids(), [9, 10, 11]);
    assert!(s.doc(1).is_word_start(0) && !s.doc(1).is_word_start(2));
    assert_eq!(
        (s.doc(2).ids(), s.doc(2).split()),
        (vec![7, 8, 9, 10, 11], Some(2))
    );
}

#[test]
fn corrupt_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = vec![vec![(vec![1, 2, 3], None), (vec![4, 5], Some(1))]];
    let path = write(dir.path(), &blocks);
    let good = std::fs::read(&path).unwrap();
    let refused = |bytes: &[u8], needle: &str| {
        std::fs::write(&path, bytes).unwrap();
        let err = format!("{:#}", Shard::open(&path).err().expect("refused"));
        assert!(err.contains(needle), "{err}");
    };
    refused(&good[..good.len() - 3], "truncated or corrupt");
    // The first document's length (block at 128: 3 + 2 tokens x 4 bytes = 20, padded
    // to 24, then [start, len, split]) pointing past the block's tokens.
    let mut bad = good.clone();
    bad[128 + 24 + 4..128 + 24 + 8].copy_from_slice(&99u32.to_le_bytes());
    refused(&bad, "document 0 lies outside its block");
    let mut bad = good.clone();
    bad[8] = 1;
    refused(&bad, "format version 1");

    // Hostile index entries (at, docs, tokens) whose layout arithmetic overflows u64, and
    // an index moved off its 8-byte alignment: errors, not panics.
    let index_at = u64::from_le_bytes(good[80..88].try_into().unwrap()) as usize;
    for (field, value) in [(1, u64::MAX / 4), (2, u64::MAX / 2), (2, u64::MAX)] {
        let mut bad = good.clone();
        let at = index_at + 8 * field;
        bad[at..at + 8].copy_from_slice(&value.to_le_bytes());
        refused(&bad, "block 0 lies outside the data");
    }
    // A header claiming more documents than the blocks hold (a 10^15-entry epoch plan
    // would be 4 PB): refused at open.
    let mut bad = good.clone();
    bad[56..64].copy_from_slice(&1_000_000_000_000_000u64.to_le_bytes());
    refused(&bad, "blocks disagree with the header's counts");
    let mut bad = good[..index_at].to_vec();
    bad.push(0);
    bad.extend_from_slice(&good[index_at..]);
    bad[80..88].copy_from_slice(&(index_at as u64 + 1).to_le_bytes());
    bad[96..104].copy_from_slice(&(good.len() as u64 + 1).to_le_bytes());
    refused(&bad, "block index disagrees with the file length");
}

/// Byte offset of block `b`'s tokens, from the block index (format version 3).
fn block_at(bytes: &[u8], b: usize) -> usize {
    let index_at = u64::from_le_bytes(bytes[80..88].try_into().unwrap()) as usize;
    let at = index_at + 32 * b;
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize
}

#[test]
fn a_flipped_bit_fails_its_blocks_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Vec<(Vec<u32>, Option<usize>)>> = (0..3u32)
        .map(|b| {
            vec![
                (vec![b + 1, b + 2, b + 3], None),
                (vec![b + 4, b + 5], Some(1)),
            ]
        })
        .collect();
    let path = write(dir.path(), &blocks);
    assert_eq!(Shard::open(&path).unwrap().verify_all().unwrap(), 3);
    let mut bytes = std::fs::read(&path).unwrap();
    // One bit of block 1's first token id (documents 2 and 3).
    let at = block_at(&bytes, 1);
    bytes[at] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    let shard = Shard::open(&path).unwrap();
    shard.verify_doc(0).unwrap();
    shard.verify_doc(5).unwrap();
    let err = format!("{:#}", shard.verify_doc(3).unwrap_err());
    assert!(
        err.contains("t.shard: block 1 (documents 2..4) fails its checksum"),
        "{err}"
    );
    assert!(shard.verify_all().is_err());
}

#[test]
fn format_version_2_reads_without_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = vec![vec![(vec![1, 2, 3], None)], vec![(vec![4, 5], Some(1))]];
    let path = write(dir.path(), &blocks);
    let v3 = std::fs::read(&path).unwrap();
    // Rewrite as version 2: index entries without their checksum word.
    let index_at = u64::from_le_bytes(v3[80..88].try_into().unwrap()) as usize;
    let mut v2 = v3[..index_at].to_vec();
    for entry in v3[index_at..].chunks(32) {
        v2.extend_from_slice(&entry[..24]);
    }
    v2[8..12].copy_from_slice(&2u32.to_le_bytes());
    let len = v2.len() as u64;
    v2[96..104].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&path, &v2).unwrap();
    let shard = Shard::open(&path).unwrap();
    assert_eq!(shard.header().version, 2);
    assert_eq!(shard.verify_all().unwrap(), 0);
    assert_eq!(shard.doc(1).ids(), [4, 5]);
    assert_eq!(shard.doc(1).split(), Some(1));
}
