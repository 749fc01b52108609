//! A structure-aware shard target: the input is turned into a shard whose header, block
//! offsets and index agree, so every input reaches the document tables, the checksums
//! and the document reads. (Plain `shard` inputs mostly stop at the header: a mutated
//! file rarely keeps its recorded length equal to its real one.)
//!
//! Input layout: 128 header bytes (magic, counts, offsets and length are overwritten;
//! the low bit of the version byte picks format 2 or 3, of the width byte 2- or 4-byte
//! ids), then per block 4 shape bytes (documents = byte 0 mod 16, tokens = bytes 1-2
//! mod 1024, bit 0 of byte 3: checksum right or as given) followed by the block's bytes
//! (token ids, document table, word-start bitmap, zero-padded if the input ends),
//! at most 64 blocks. The block contents are the fuzzer's: document bounds, splits and
//! ids are all hostile.
#![no_main]

use dapt::data::shard::{block_layout, MAGIC};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const HEADER_LEN: usize = 128;

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn build(data: &[u8]) -> Vec<u8> {
    let mut out = data[..data.len().min(HEADER_LEN)].to_vec();
    out.resize(HEADER_LEN, 0);
    out[..8].copy_from_slice(MAGIC);
    let version = 2 + (out[8] as u32 & 1);
    out[8..12].copy_from_slice(&version.to_le_bytes());
    let width: u32 = if out[12] & 1 == 0 { 2 } else { 4 };
    out[12..16].copy_from_slice(&width.to_le_bytes());
    let mut rest = data.get(HEADER_LEN..).unwrap_or_default();
    let mut index = Vec::new();
    let (mut docs_total, mut tokens_total) = (0u64, 0u64);
    while rest.len() >= 4 && index.len() < 64 {
        let docs = (rest[0] % 16) as u64;
        let tokens = u16::from_le_bytes([rest[1], rest[2]]) as u64 % 1024;
        let right_checksum = rest[3] & 1 == 1;
        let given_checksum = rest[3] as u64;
        rest = &rest[4..];
        let (_, _, len) = block_layout(width, docs, tokens).expect("small counts");
        let take = rest.len().min(len as usize);
        let at = out.len() as u64;
        out.extend_from_slice(&rest[..take]);
        out.resize(at as usize + len as usize, 0);
        rest = &rest[take..];
        let crc = crc32c::crc32c(&out[at as usize..]) as u64;
        let checksum = if right_checksum { crc } else { given_checksum };
        index.push([at, docs, tokens, checksum]);
        docs_total += docs;
        tokens_total += tokens;
    }
    let index_at = out.len() as u64;
    for e in &index {
        let words = if version >= 3 { &e[..] } else { &e[..3] };
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    let len = out.len() as u64;
    set_u64(&mut out, 56, docs_total);
    set_u64(&mut out, 64, tokens_total);
    set_u64(&mut out, 80, index_at);
    set_u64(&mut out, 88, index.len() as u64);
    set_u64(&mut out, 96, len);
    out
}

fuzz_target!(|data: &[u8]| {
    common::read_shard(&common::file("f.shard", &build(data)));
});
