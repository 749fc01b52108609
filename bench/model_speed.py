"""Forward+backward throughput of transformers' BertForMaskedLM on CPU (PyTorch).

The counterpart of bench/model_speed.rs: same presets, vocabulary, batch, masked positions
and training mode (dropout on). The loss is transformers' own: labels -100 except at the
masked positions, decoder over every position. torch uses as many threads as the machine
has cores, or MODEL_BENCH_THREADS when set.
Usage: python3 bench/model_speed.py [STEPS] [PRESET...] - prints one
`RESULT preset variant tokens_per_s mean_ms min_ms` line per preset.
"""

import os
import sys
import time

import torch
import transformers

VOCAB, BATCH, SEQ = 22_000, 64, 32
PRESETS = {"tiny": (2, 128, 2, 512), "small": (4, 256, 4, 1024), "base": (12, 768, 12, 3072)}


def is_masked(p):
    """Same rule as bench/model_speed.rs: a multiplicative hash below 15%, never [CLS]."""
    return (p * 2_654_435_761 % (1 << 32)) % 100 < 15 and p % SEQ != 0


def batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (BATCH, SEQ), generator=g)
    types = (torch.arange(SEQ) >= SEQ // 2).long().expand(BATCH, SEQ).contiguous()
    masked = torch.tensor([is_masked(p) for p in range(BATCH * SEQ)]).view(BATCH, SEQ)
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    return ids, types, torch.ones_like(ids), labels


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    presets = sys.argv[2:] or ["tiny", "small"]
    torch.set_num_threads(int(os.environ.get("MODEL_BENCH_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    ids, types, mask, labels = batch()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}: batch {BATCH} x {SEQ}, "
          f"vocab {VOCAB}, {(labels != -100).sum().item()} masked positions, threads {torch.get_num_threads()}")
    for preset in presets:
        layers, hidden, heads, ffn = PRESETS[preset]
        config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
                                         num_attention_heads=heads, intermediate_size=ffn)
        model = transformers.BertForMaskedLM(config)
        model.train()
        attn = model.config._attn_implementation

        def step():
            out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
            out.loss.backward()
            model.zero_grad(set_to_none=True)

        for _ in range(2):
            step()  # warm-up: allocator, thread pool
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            step()
            times.append((time.perf_counter() - t) * 1e3)
        mean = sum(times) / steps
        print(f"RESULT {preset} torch_{attn} {BATCH * SEQ / (mean / 1e3):.0f} {mean:.2f} {min(times):.2f}", flush=True)


if __name__ == "__main__":
    main()
