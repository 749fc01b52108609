"""Time one torch.optim.AdamW step on BERT-base shapes (~110M f32 parameters), CPU.

The counterpart of bench/optim_step.rs (same shapes, same hyperparameters, weight-decay
groups as Hugging Face). torch uses as many threads as the machine has cores, or
OPTIM_BENCH_THREADS when set.
Usage: python3 bench/optim_step.py [STEPS] - prints one `RESULT name ms_per_step` per variant.
"""

import os
import sys
import time

import torch

V, H, F = 30522, 768, 3072


def bert_base_shapes():
    s = [
        ("bert.embeddings.word_embeddings.weight", (V, H)),
        ("bert.embeddings.position_embeddings.weight", (512, H)),
        ("bert.embeddings.token_type_embeddings.weight", (2, H)),
        ("bert.embeddings.LayerNorm.weight", (H,)),
        ("bert.embeddings.LayerNorm.bias", (H,)),
    ]
    for layer in range(12):
        p = f"bert.encoder.layer.{layer}"
        for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
            s += [(f"{p}.{m}.weight", (H, H)), (f"{p}.{m}.bias", (H,))]
        s += [(f"{p}.intermediate.dense.weight", (F, H)), (f"{p}.intermediate.dense.bias", (F,))]
        s += [(f"{p}.output.dense.weight", (H, F)), (f"{p}.output.dense.bias", (H,))]
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"]:
            s += [(f"{p}.{ln}.weight", (H,)), (f"{p}.{ln}.bias", (H,))]
    s += [("bert.pooler.dense.weight", (H, H)), ("bert.pooler.dense.bias", (H,))]
    s += [("cls.predictions.bias", (V,)), ("cls.predictions.transform.dense.weight", (H, H)),
          ("cls.predictions.transform.dense.bias", (H,)), ("cls.predictions.transform.LayerNorm.weight", (H,)),
          ("cls.predictions.transform.LayerNorm.bias", (H,))]
    return s


def time_steps(name, opt, steps):
    for _ in range(2):
        opt.step()  # warm-up: allocates the moments
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.step()
        times.append((time.perf_counter() - t) * 1e3)
    print(f"RESULT {name} {sum(times) / steps:.2f}  (min {min(times):.2f} ms over {steps} steps)", flush=True)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch.set_num_threads(int(os.environ.get("OPTIM_BENCH_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    params = []
    for name, shape in bert_base_shapes():
        p = torch.nn.Parameter(torch.randn(shape) * 0.02)
        p.grad = torch.randn(shape) * 1e-3
        params.append((name, p))
    n = sum(p.numel() for _, p in params)
    print(f"torch {torch.__version__}: {len(params)} tensors, {n} parameters, threads {torch.get_num_threads()}")
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n  # noqa: E731
    groups = [
        {"params": [p for n, p in params if not no_decay(n)], "weight_decay": 0.01},
        {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0},
    ]
    with torch.no_grad():
        time_steps("torch_adamw_foreach", torch.optim.AdamW(groups, lr=1e-4, eps=1e-8, foreach=True), steps)
        for variant, kw in [("torch_adamw_single_tensor", {"foreach": False}), ("torch_adamw_fused", {"fused": True})]:
            try:
                time_steps(variant, torch.optim.AdamW(groups, lr=1e-4, eps=1e-8, **kw), steps)
            except (RuntimeError, ValueError) as e:
                print(f"{variant}: not available ({e})")


if __name__ == "__main__":
    main()
