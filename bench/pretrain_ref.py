#!/usr/bin/env python3
"""PyTorch + transformers reference for `dapt pretrain` throughput.

Same data (a pair TSV, texts a and b and the pair as documents, like `--pairs-as
both`), tokenizer (dapt's tokenizer.json through BertTokenizerFast), model config
(BertForMaskedLM from a dapt preset), batch size, sequence length, 15% token masking
(DataCollatorForLanguageModeling), AdamW and linear schedule, thread count. Prints
real (non-padding) tokens per second over the timed steps, after warmup steps.

With --objective rtd, ELECTRA's replaced-token detection as `dapt pretrain --objective
rtd` does it: ElectraForPreTraining (the preset, embedding_size = hidden_size) and an
ElectraForMaskedLM generator of --generator-size (hidden, heads and feed-forward scaled,
same depth) sharing its embeddings module and tied decoder; replacements sampled from the
generator's softmax (torch.multinomial), loss = generator MLM + --disc-weight x
discriminator BCE over real tokens (transformers' own losses).

With --device cuda (bench/gpu/check.sh): --precision f32 (TF32 off), tf32 (TF32
matmuls, PyTorch's eager default on Ampere+ when enabled) or bf16 (torch.autocast with
bfloat16: f32 weights and optimizer, bf16 matmuls); also prints the peak GPU memory.

  python3 bench/pretrain_ref.py --corpus X.tsv --vocab DIR --preset small \
      --batch-size 64 --max-len 32 --steps 30 --warmup 3 --threads 2 [--objective rtd] \
      [--device cuda --precision bf16]
"""
import contextlib
import argparse
import random
import time

import torch
from transformers import (BertConfig, BertForMaskedLM, BertTokenizerFast,
                          DataCollatorForLanguageModeling, ElectraConfig, ElectraForMaskedLM,
                          ElectraForPreTraining, get_linear_schedule_with_warmup)

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
    ap.add_argument("--objective", choices=["mlm", "rtd"], default="mlm")
    ap.add_argument("--generator-size", type=float, default=0.25)
    ap.add_argument("--disc-weight", type=float, default=50.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["f32", "tf32", "bf16"], default="f32")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    random.seed(1)
    tok = BertTokenizerFast(tokenizer_file=f"{args.vocab}/tokenizer.json")
    docs = []
    for line in open(args.corpus, encoding="utf-8"):
        a, b = line.rstrip("\n").split("\t")[:2]
        docs += [(a, None), (b, None), (a, b)]
    random.shuffle(docs)
    while len(docs) < (args.warmup + args.steps) * args.batch_size:  # a small corpus: repeat it
        docs += docs
    layers, hidden, heads, ffn = PRESETS[args.preset]
    if args.objective == "mlm":
        config = BertConfig(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=ffn)
        model = BertForMaskedLM(config).train()
        step_loss = lambda batch: (model(**batch).loss)
    else:
        model, step_loss = rtd(len(tok), layers, hidden, heads, ffn, args)
    model.to(device)
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
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for step in range(total):
        if step == args.warmup:
            sync()
            tokens, start = 0, time.perf_counter()
        batch = collator(features[step * args.batch_size:(step + 1) * args.batch_size])
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast:
            loss = step_loss(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    sync()
    secs = time.perf_counter() - start
    memory = ""
    if device.type == "cuda":
        memory = f" peak_gpu_mib {torch.cuda.max_memory_allocated() / 2**20:.0f}"
    print(f"torch_pretrain_{args.objective} {args.preset} {args.precision} tokens/s {tokens / secs:.1f} steps {args.steps} seconds {secs:.2f}{memory}")


def rtd(vocab_size, layers, hidden, heads, ffn, args):
    """The generator and discriminator (one module holding both, for the optimizer) and
    the replaced-token-detection loss of a masked batch."""
    size = args.generator_size
    common = dict(vocab_size=vocab_size, embedding_size=hidden, num_hidden_layers=layers)
    disc = ElectraForPreTraining(ElectraConfig(
        hidden_size=hidden, num_attention_heads=heads, intermediate_size=ffn, **common))
    gen = ElectraForMaskedLM(ElectraConfig(
        hidden_size=round(hidden * size), num_attention_heads=max(1, round(heads * size)),
        intermediate_size=round(ffn * size), **common))
    gen.electra.embeddings = disc.electra.embeddings
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    both = torch.nn.ModuleDict({"disc": disc, "gen": gen}).train()

    def loss(batch):
        g = gen(**batch)
        masked = batch["labels"] != -100
        with torch.no_grad():
            probs = torch.softmax(g.logits[masked], dim=-1)
            samples = torch.multinomial(probs, 1).squeeze(1)
            original = torch.where(masked, batch["labels"], batch["input_ids"])
            corrupted = original.clone()
            corrupted[masked] = samples
            replaced = (corrupted != original).long()
        d = disc(input_ids=corrupted, attention_mask=batch["attention_mask"],
                 token_type_ids=batch["token_type_ids"], labels=replaced)
        return g.loss + args.disc_weight * d.loss

    return both, loss


if __name__ == "__main__":
    main()
