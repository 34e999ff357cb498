#!/usr/bin/env python3
"""PEFT references for the LoRA tests (tests/model/test_lora.cpp), on the tiny Qwen2ForCausalLM of model_ref.py.

  make  --out W --ref R --adapter A   base weights (W/model.safetensors, HF names = ours), a PEFT LoRA adapter with
        random A and B saved by save_pretrained (A), and in R/ref.safetensors: ids, the base logits, the logits with
        the adapter, and those of merge_and_unload.
  check --out W --ref R --adapter A   PeftModel.from_pretrained(base from W, A): asserts the file's tensor names
        are exactly PEFT's for that config (get_peft_model_state_dict) with the same values, and writes the logits
        (R/peft.safetensors) and merged logits, plus PEFT's scaling of the first adapted module.
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # PEFT looks up base_model_name_or_path's config; never online

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import TINY_LLM, randomise  # noqa: E402


def base_model(weights_dir=None):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**TINY_LLM)).float().eval()
    if weights_dir is None:
        randomise(model, 1)
    else:
        model.load_state_dict(load_file(os.path.join(weights_dir, "model.safetensors")), strict=True)
    return model


def ids():
    g = torch.Generator().manual_seed(2)
    return torch.randint(0, TINY_LLM["vocab_size"], (9,), generator=g)


def logits(model, x):
    with torch.no_grad():
        return model(input_ids=x[None]).logits[0].contiguous()


def cmd_make(args):
    from peft import LoraConfig, get_peft_model
    model = base_model()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.ref, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(args.out, "model.safetensors"))
    x = ids()
    base = logits(model, x)
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                     target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    peft = get_peft_model(model, cfg).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    peft.save_pretrained(args.adapter)
    with_lora = logits(peft, x)
    merged = logits(peft.merge_and_unload(), x)
    save_file({"ids": x, "base": base, "lora": with_lora, "merged": merged}, os.path.join(args.ref, "ref.safetensors"))
    print("ok make")


def cmd_check(args):
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict
    model = base_model(args.out)
    peft = PeftModel.from_pretrained(model, args.adapter).eval()
    stored = load_file(os.path.join(args.adapter, "adapter_model.safetensors"))
    expected = get_peft_model_state_dict(peft)
    assert set(stored) == set(expected), f"names differ: {sorted(set(stored) ^ set(expected))}"
    for k, v in stored.items():
        assert torch.equal(expected[k], v), f"{k} loaded differently"
    from peft.tuners.lora import LoraLayer
    scaling = next(m.scaling["default"] for m in peft.modules() if isinstance(m, LoraLayer))
    x = load_file(os.path.join(args.ref, "ids.safetensors"))["ids"]
    out = {"lora": logits(peft, x), "scaling": torch.tensor([scaling], dtype=torch.float64)}
    out["merged"] = logits(peft.merge_and_unload(), x)
    save_file(out, os.path.join(args.ref, "peft.safetensors"))
    print("ok check", len(stored), "tensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "check"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--adapter", required=True)
    args = ap.parse_args()
    {"make": cmd_make, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    main()
