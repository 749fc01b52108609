#!/usr/bin/env python3
"""Reference k-fold fine-tuning with PyTorch/transformers, for comparing with `dapt finetune`.

Runs the same folds (read from dapt's `folds.json`), the same model (a checkpoint dir, or a
fresh BERT of dapt's size presets over a vocabulary), tokenizer, hyperparameters and
model selection as dapt:
AdamW (no decay on biases and LayerNorm), linear warmup then linear decay, global-norm
clipping, class-weighted label-smoothed cross-entropy, evaluation at each epoch's end (and
every --eval-every steps), best checkpoint by --metric. Prints and writes per-fold metrics
with their mean and population std for every seed, and the seed-to-seed spread.

    dapt finetune --train train.tsv --vocab vocab --model-config tiny --folds 5 --out ft
    python3 bench/finetune_ref.py --train train.tsv --folds-json ft/folds.json \
        --vocab vocab --model-config tiny --seeds 1 2 3 --out ref.json

Differences that remain: dapt's rare placeholders ([RARE0]..) are not applied here
(tokenizer.json maps unknown words to [UNK]), and random streams (init, order,
dropout) differ, which is why the comparison is against the seed-to-seed spread.
Needs: torch, transformers, tokenizers.
"""

import argparse
import json
import math
import os
import random
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from transformers import (BertConfig, BertForSequenceClassification, BertTokenizerFast,
                          get_linear_schedule_with_warmup)

PRESETS = {"tiny": (2, 128, 2, 512), "small": (4, 256, 4, 1024), "base": (12, 768, 12, 3072)}


def read_pairs(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if line.strip():
                a, b, y = line.split("\t")[:3]
                rows.append((a, b, int(y)))
    return rows


def auc(scores, labels):
    """ROC AUC by the Mann-Whitney statistic, ties counted half (as scikit-learn)."""
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        rank_sum += avg * sum(labels[k] for k in order[i:j + 1])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def metrics(probs, labels):
    c = len(probs[0])
    pred = [max(range(c), key=lambda k: p[k]) for p in probs]
    n = len(labels)
    acc = sum(p == y for p, y in zip(pred, labels)) / n

    def f1_of(k):
        tp = sum(p == k and y == k for p, y in zip(pred, labels))
        fp = sum(p == k and y != k for p, y in zip(pred, labels))
        fn = sum(p != k and y == k for p, y in zip(pred, labels))
        return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)

    f1 = f1_of(1) if c == 2 else sum(f1_of(k) for k in range(c)) / c
    ll = -sum(math.log(min(max(p[y], 1e-15), 1 - 1e-15)) for p, y in zip(probs, labels)) / n
    a = auc([p[1] for p in probs], [int(y == 1) for y in labels]) if c == 2 else None
    return {"auc": a, "accuracy": acc, "f1": f1, "log_loss": ll}


def better(metric, new, old):
    return old is None or (new < old if metric == "log_loss" else new > old)


def tokenizer_for(args):
    d = args.init if args.init and os.path.exists(os.path.join(args.init, "vocab.txt")) else args.vocab
    tj = os.path.join(d, "tokenizer.json")
    if os.path.exists(tj):
        return BertTokenizerFast(tokenizer_file=tj, vocab_file=os.path.join(d, "vocab.txt"))
    return BertTokenizerFast(vocab_file=os.path.join(d, "vocab.txt"), do_lower_case=True)


def new_model(args, vocab_size, num_labels, seed):
    torch.manual_seed(seed)
    if args.init:
        return BertForSequenceClassification.from_pretrained(args.init, num_labels=num_labels)
    if args.model_config in PRESETS:
        layers, hidden, heads, ffn = PRESETS[args.model_config]
        config = BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=heads, intermediate_size=ffn, num_labels=num_labels)
    else:
        config = BertConfig.from_json_file(args.model_config)
        config.vocab_size, config.num_labels = vocab_size, num_labels
    return BertForSequenceClassification(config)


def encode(tok, pairs, max_len):
    return tok([a for a, _, _ in pairs], [b for _, b, _ in pairs], truncation="longest_first",
               max_length=max_len, padding=True, return_tensors="pt")


@torch.no_grad()
def predict(model, enc, batch_size, device):
    model.eval()
    out = []
    for i in range(0, enc["input_ids"].shape[0], batch_size):
        batch = {k: v[i:i + batch_size].to(device) for k, v in enc.items()}
        out += F.softmax(model(**batch).logits.float(), dim=-1).tolist()
    return out


def run_fold(args, tok, data, folds, k, num_labels, seed, device, enc_test=None):
    """The best validation metrics of fold k, and the test-set probabilities of that
    best model (None without a test set)."""
    train = [p for p, f in zip(data, folds) if f != k]
    valid = [p for p, f in zip(data, folds) if f == k]
    if args.swap:
        train = train + [(b, a, y) for a, b, y in train]
    model = new_model(args, len(tok.get_vocab()), num_labels, seed).to(device)
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total = steps_per_epoch * args.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(total * args.warmup_ratio), total)
    weight = torch.tensor(args.class_weight, device=device) if args.class_weight else None
    enc_valid = encode(tok, valid, args.max_len)
    valid_labels = [y for _, _, y in valid]
    rng = random.Random(seed * 1000 + k)
    best, best_value, best_test, step = None, None, None, 0
    for epoch in range(args.epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        for s in range(steps_per_epoch):
            model.train()
            rows = [train[i] for i in order[s * args.batch_size:(s + 1) * args.batch_size]]
            batch = {key: v.to(device) for key, v in encode(tok, rows, args.max_len).items()}
            ys = torch.tensor([y for _, _, y in rows], device=device)
            loss = F.cross_entropy(model(**batch).logits, ys, weight=weight,
                                   label_smoothing=args.label_smoothing)
            loss.backward()
            if args.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if s + 1 == steps_per_epoch or (args.eval_every and step % args.eval_every == 0):
                m = metrics(predict(model, enc_valid, 256, device), valid_labels)
                if better(args.metric, m[args.metric], best_value):
                    best, best_value = dict(m, best_step=step), m[args.metric]
                    if enc_test is not None:
                        best_test = predict(model, enc_test, 256, device)
    return best, best_test


def summary(per_fold):
    out = {}
    for key in ["auc", "accuracy", "f1", "log_loss"]:
        xs = [m[key] for m in per_fold if m[key] is not None]
        if xs:
            out[key] = {"mean": statistics.fmean(xs), "std": statistics.pstdev(xs)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", required=True, help="labelled pair TSV (the file dapt finetune read)")
    ap.add_argument("--folds-json", required=True, help="folds.json written by dapt finetune")
    ap.add_argument("--init", help="pretrained checkpoint dir (as dapt finetune --init)")
    ap.add_argument("--vocab", help="vocabulary dir (without --init)")
    ap.add_argument("--model-config", default="small", help="tiny|small|base|config.json (without --init)")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--class-weight", type=lambda s: [float(w) for w in s.split(":")])
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--swap", action="store_true", help="as dapt --augment swap")
    ap.add_argument("--metric", default="auc", choices=["auc", "accuracy", "f1", "log_loss"])
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--fold", type=int, action="append", help="run only these folds")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--test", help="labelled pair TSV scored by the mean of the folds' best models")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    if not args.init and not args.vocab:
        sys.exit("pass --init DIR or --vocab DIR")

    if args.threads:
        torch.set_num_threads(args.threads)
    data = read_pairs(args.train)
    folds = json.load(open(args.folds_json))
    if len(folds["assignment"]) != len(data):
        sys.exit(f"{args.folds_json} has {len(folds['assignment'])} examples but {args.train} has {len(data)}")
    num_labels = max(y for _, _, y in data) + 1
    tok = tokenizer_for(args)
    test = read_pairs(args.test) if args.test else None
    enc_test = encode(tok, test, args.max_len) if test else None
    fold_ids = args.fold or list(range(folds["k"]))
    results = {"args": vars(args), "seeds": {}}
    for seed in args.seeds:
        t0 = time.time()
        per_fold, test_probs = [], []
        for k in fold_ids:
            m, probs = run_fold(args, tok, data, folds["assignment"], k, num_labels, seed,
                                args.device, enc_test)
            per_fold.append(dict(m, fold=k))
            test_probs.append(probs)
            print(f"seed {seed} fold {k}: " + " ".join(f"{key} {m[key]:.4f}" for key in ["auc", "accuracy", "f1", "log_loss"] if m[key] is not None), flush=True)
        results["seeds"][seed] = {"folds": per_fold, "summary": summary(per_fold), "seconds": time.time() - t0}
        if test:
            mean = [[sum(p[i][c] for p in test_probs) / len(test_probs) for c in range(num_labels)]
                    for i in range(len(test))]
            results["seeds"][seed]["test"] = metrics(mean, [y for _, _, y in test])
            print(f"seed {seed} test: {json.dumps(results['seeds'][seed]['test'])}", flush=True)
        print(f"seed {seed}: {json.dumps(results['seeds'][seed]['summary'])}", flush=True)
    means = [r["summary"][args.metric]["mean"] for r in results["seeds"].values()]
    results["spread"] = {"metric": args.metric, "min": min(means), "max": max(means),
                         "mean": statistics.fmean(means), "std": statistics.pstdev(means)}
    print(f"seed-to-seed CV {args.metric}: {json.dumps(results['spread'])}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
