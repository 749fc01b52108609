#!/usr/bin/env python3
"""PyTorch + transformers reference for `dapt pretrain` throughput.

Same data (a pair TSV, texts a and b and the pair as documents, like `--pairs-as
both`), tokenizer (dapt's tokenizer.json through BertTokenizerFast), model config
(BertForMaskedLM from a dapt preset), batch size, sequence length, 15% token masking
(DataCollatorForLanguageModeling), AdamW and linear schedule, thread count. Prints
real (non-padding) tokens per second over the timed steps, after warmup steps.

  python3 bench/pretrain_ref.py --corpus X.tsv --vocab DIR --preset small \
      --batch-size 64 --max-len 32 --steps 30 --warmup 3 --threads 2
"""
import argparse
import random
import time

import torch
from transformers import (BertConfig, BertForMaskedLM, BertTokenizerFast,
                          DataCollatorForLanguageModeling, get_linear_schedule_with_warmup)

PRESETS = {"tiny": (2, 128, 2, 512), "small": (4, 256, 4, 1024), "base": (12, 768, 12, 3072)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    random.seed(1)
    tok = BertTokenizerFast(tokenizer_file=f"{args.vocab}/tokenizer.json")
    docs = []
    for line in open(args.corpus, encoding="utf-8"):
        a, b = line.rstrip("\n").split("\t")[:2]
        docs += [(a, None), (b, None), (a, b)]
    random.shuffle(docs)
    layers, hidden, heads, ffn = PRESETS[args.preset]
    config = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=ffn)
    model = BertForMaskedLM(config).train()
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    total = args.warmup + args.steps
    sched = get_linear_schedule_with_warmup(opt, int(0.06 * total), total)
    collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    # Tokenised before timing, as dapt reads pre-encoded shards.
    features = [dict(tok(a, b, truncation="longest_first", max_length=args.max_len))
                for a, b in docs[:total * args.batch_size]]
    tokens, start = 0, None
    for step in range(total):
        if step == args.warmup:
            tokens, start = 0, time.perf_counter()
        batch = collator(features[step * args.batch_size:(step + 1) * args.batch_size])
        out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    secs = time.perf_counter() - start
    print(f"torch_pretrain {args.preset} tokens/s {tokens / secs:.1f} steps {args.steps} seconds {secs:.2f}")


if __name__ == "__main__":
    main()
