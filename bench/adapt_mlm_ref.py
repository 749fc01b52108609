#!/usr/bin/env python3
"""Continued masked-LM training of a checkpoint, the way a transformers user does it, as the
reference for `dapt pretrain --init-from` in bench/adapt_study.sh.

BertForMaskedLM.from_pretrained(--init) (a BertModel checkpoint gets a new MLM head,
reported by transformers), documents as dapt's `--pairs-as both` makes them (text a,
text b and the pair) from pair TSVs, DataCollatorForLanguageModeling (15% of tokens,
80/10/10), AdamW (no decay on biases and LayerNorm), linear warmup 6% then decay,
global-norm clipping 1.0, --steps batches of --batch-size drawn in a seeded shuffled
order. Saves model + tokenizer files to --save for finetune_ref.py --init.

    python3 bench/adapt_mlm_ref.py --init MINILM --corpus train.tsv test.tsv \
        --steps 200 --batch-size 32 --lr 5e-5 --max-len 128 --seed 1 --save OUT
"""
import argparse
import os
import random
import shutil
import time

import torch
from transformers import (BertForMaskedLM, BertTokenizerFast, DataCollatorForLanguageModeling,
                          get_linear_schedule_with_warmup)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok = BertTokenizerFast.from_pretrained(args.init)
    docs = []
    for path in args.corpus:
        for line in open(path, encoding="utf-8"):
            if line.strip():
                a, b = line.rstrip("\n").split("\t")[:2]
                docs += [(a, None), (b, None), (a, b)]
    model = BertForMaskedLM.from_pretrained(args.init).train()
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * args.steps), args.steps)
    collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    order = []
    start, tokens = time.perf_counter(), 0
    for step in range(args.steps):
        if len(order) < args.batch_size:
            order += rng.sample(range(len(docs)), len(docs))
        rows, order = order[:args.batch_size], order[args.batch_size:]
        feats = [dict(tok(docs[i][0], docs[i][1], truncation="longest_first", max_length=args.max_len))
                 for i in rows]
        batch = collator(feats)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        if step % 20 == 0 or step + 1 == args.steps:
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f}", flush=True)
    secs = time.perf_counter() - start
    print(f"ref_pretrain tokens/s {tokens / secs:.1f} seconds {secs:.1f}")
    model.save_pretrained(args.save)
    for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        if os.path.exists(os.path.join(args.init, f)):
            shutil.copy(os.path.join(args.init, f), args.save)


if __name__ == "__main__":
    main()
