#!/usr/bin/env python3
"""Reference timing for bench/model: forward + backward of HF transformers Qwen2ForCausalLM (fp32, CPU, sdpa
attention) on one causal sequence; the C++ bench runs the same geometry. Prints `py_ms=<median>`."""
import argparse
import statistics
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, required=True)
    ap.add_argument("--intermediate", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--kv-heads", type=int, required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
                      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                      tie_word_embeddings=False, attn_implementation="sdpa")
    model = Qwen2ForCausalLM(cfg).float().train()
    ids = torch.randint(0, a.vocab, (1, a.seq))
    times = []
    for i in range(a.reps + 1):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        logits = model(input_ids=ids, use_cache=False).logits
        logits.float().square().mean().backward()
        dt = (time.perf_counter() - t0) * 1000
        if i > 0:  # first run warms up
            times.append(dt)
    print(f"py_ms={statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
