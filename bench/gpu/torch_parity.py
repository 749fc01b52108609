#!/usr/bin/env python3
"""transformers on the check's device against the committed fixture (made by
transformers on the CPU, tests/fixtures/model/make_fixtures.py): MLM loss and logits,
classifier logits, and the gradients the dapt parity tests compare. Shows how far
transformers itself moves between CPU and GPU (TF32 off), the yardstick for dapt's own
GPU-vs-fixture figures. Prints one line per quantity.

  python3 bench/gpu/torch_parity.py --device cuda
"""
import argparse

import torch
from safetensors.torch import load_file
from transformers import BertForMaskedLM, BertForSequenceClassification

FIX = "tests/fixtures/model"


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    dev = torch.device(ap.parse_args().device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    r = {k: v.to(dev) for k, v in load_file(f"{FIX}/reference.safetensors").items()}
    inputs = dict(input_ids=r["input_ids"].long(), token_type_ids=r["token_type_ids"].long(),
                  attention_mask=r["attention_mask"].long())
    mlm = BertForMaskedLM.from_pretrained(f"{FIX}/mlm").to(dev).eval()
    out = mlm(**inputs, labels=r["labels"].long())
    out.loss.backward()
    real = r["attention_mask"].bool()
    print(f"transformers {dev} mlm.logits max abs diff vs fixture "
          f"{(out.logits[real] - r['mlm.logits'][real]).abs().max().item():.3e}")
    print(f"transformers {dev} mlm.loss abs diff {abs(out.loss.item() - r['mlm.loss'].item()):.3e}")
    params = dict(mlm.named_parameters())
    for key in sorted(k for k in r if k.startswith("grad.mlm.")):
        name = key[len("grad.mlm."):]
        print(f"transformers {dev} grad {name} relative error {rel(params[name].grad, r[key]):.3e}")
    cls = BertForSequenceClassification.from_pretrained(f"{FIX}/cls").to(dev).eval()
    logits = cls(**inputs).logits
    print(f"transformers {dev} cls.logits max abs diff "
          f"{(logits - r['cls.logits']).abs().max().item():.3e}")


if __name__ == "__main__":
    main()
