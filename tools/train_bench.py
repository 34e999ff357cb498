#!/usr/bin/env python3
"""Reference for bench/train: one SGT training step of the tiny BAGEL recipe written in plain PyTorch, on the weights
and packed micro-batches that bench_train wrote into --dir (weights.safetensors, batches.safetensors, bench.json).

Same math as src/model/*.cpp + src/train/{losses,trainer,optimizer}.cpp:
  text embeddings + index_copy placement of ViT tokens (SigLIP NaViT -> connector -> + vit_pos_embed) and VAE tokens
  (vae2llm + time embedder + latent_pos_embed); Qwen2-MoT decoder (und / gen copies routed by the VAE-token mask,
  RMSNorm, q/k norm, RoPE rotate-half, GQA, SwiGLU) with the packed attention rule; final norm per route;
  loss = ce_w * CE_sum / N_ce + mse_w * sum_tokens(mean_channels((v - target)^2)) / N_mse; backward;
  torch.nn.utils.clip_grad_norm_(1.0); torch.optim.AdamW(betas 0.9/0.95, eps 1e-15, weight_decay 0).

Attention: --attn splitwise (default; the same algorithm as ours: per split, K/V = earlier non-noise splits of the
sample ++ own split, bottom-right causal mask for text) or dense (one boolean mask per sample + SDPA). With --both
the step is timed with both and `py_dense_tokens_per_s` is printed too.

Prints `py_losses=<step losses, warm-up step first>`, `py_tokens_per_s=<timed tokens / timed wall seconds>`,
`py_tokens_per_cpu_s` (process CPU time, all threads: steadier on a shared machine), `py_step_ms`, `py_fwd_bwd_ms`,
`py_opt_ms` (clip + AdamW + zero_grad); exits 3
when --cpp-losses is given and the step-1 loss differs by more than 1e-4 relative.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

MODES = {"causal": 0, "full": 1, "noise": 2}


def rms_norm(x, w, eps):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def linear(P, name, x, bias=True):
    return F.linear(x, P[name + ".weight"], P.get(name + ".bias") if bias else None)


class Route:
    """und / gen index lists of a packed sequence (model/qwen2.cpp Routing)."""

    def __init__(self, gen_mask):
        self.L = gen_mask.shape[0]
        self.gen = torch.nonzero(gen_mask).flatten()
        self.und = torch.nonzero(~gen_mask).flatten()

    def apply(self, x, f_und, f_gen):
        if self.gen.numel() == 0:
            return f_und(x)
        if self.und.numel() == 0:
            return f_gen(x)
        yu = f_und(x.index_select(0, self.und))
        yg = f_gen(x.index_select(0, self.gen))
        out = torch.empty((self.L,) + tuple(yu.shape[1:]), dtype=yu.dtype)
        return out.index_copy(0, self.und, yu).index_copy(0, self.gen, yg)


def sample_masks(splits):
    """Per sample: (begin, end, bool mask [n, n]) with the rule of model/attention.h."""
    out = []
    samples = sorted({s["sample"] for s in splits})
    for smp in samples:
        sp = [s for s in splits if s["sample"] == smp]
        b = sp[0]["start"]
        e = sp[-1]["start"] + sp[-1]["len"]
        sid = torch.cat([torch.full((s["len"],), i, dtype=torch.int64) for i, s in enumerate(sp)])
        mode = torch.cat([torch.full((s["len"],), MODES[s["mode"]], dtype=torch.int64) for s in sp])
        idx = torch.arange(e - b)
        same = sid[:, None] == sid[None, :]
        bidir = (mode != 0)[:, None]
        allowed = (idx[None, :] <= idx[:, None]) | (same & bidir)
        hidden_noise = (mode == 2)[None, :] & ~same
        out.append((b, e, allowed & ~hidden_noise))
    return out


def split_plan(splits):
    """Per split: (start, len, key index tensor or (lo, hi) slice, causal mask or None), as model/attention.cpp."""
    plan = []
    prefix = []
    cur = -1
    for s in splits:
        if s["sample"] != cur:
            prefix = []
            cur = s["sample"]
        st, n = s["start"], s["len"]
        p = len(prefix)
        if p == 0:
            keys = (st, st + n)
        elif prefix[-1] - prefix[0] + 1 == p and prefix[-1] + 1 == st:
            keys = (prefix[0], st + n)
        else:
            keys = torch.tensor(prefix + list(range(st, st + n)), dtype=torch.int64)
        mask = None
        if s["mode"] == "causal" and n > 1:
            mask = torch.arange(p + n)[None, :] <= (torch.arange(n)[:, None] + p)
        plan.append((st, n, keys, mask))
        if s["mode"] != "noise":
            prefix.extend(range(st, st + n))
    return plan


def sdpa(q, k, v, mask):
    # q [n, Hq, d], k/v [m, Hkv, d] -> [n, Hq, d]
    gqa = q.shape[1] != k.shape[1]
    o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None],
                                       attn_mask=mask, enable_gqa=gqa)
    return o[0].transpose(0, 1)


def packed_attention(q, k, v, mb, impl):
    outs = []
    if impl == "dense":
        for b, e, m in mb["dense"]:
            outs.append(sdpa(q[b:e], k[b:e], v[b:e], m))
        return torch.cat(outs, 0)
    for st, n, keys, mask in mb["plan"]:
        if isinstance(keys, tuple):
            ks, vs = k[keys[0]:keys[1]], v[keys[0]:keys[1]]
        else:
            ks, vs = k.index_select(0, keys), v.index_select(0, keys)
        outs.append(sdpa(q[st:st + n], ks, vs, mask))
    return torch.cat(outs, 0)


def rope_cos_sin(pos, d, theta):
    exps = torch.arange(0, d, 2, dtype=torch.int64).float() / d
    inv_freq = 1.0 / torch.pow(theta, exps)
    freqs = pos.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos(), emb.sin()


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    c, s = cos.to(x.dtype)[:, None, :], sin.to(x.dtype)[:, None, :]
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * c + rot * s


def decoder_layer(P, i, h, r, cos, sin, mb, cfg, impl):
    pre = f"language_model.model.layers.{i}."
    eps = cfg["rms_norm_eps"]
    H, Hkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    L = h.shape[0]

    def norm(name):
        return lambda t: rms_norm(t, P[pre + name + ".weight"], eps)

    n = r.apply(h, norm("input_layernorm"), norm("input_layernorm_moe_gen"))

    def project(sfx):
        def f(t):
            a = pre + "self_attn."
            q = linear(P, a + "q_proj" + sfx, t).view(t.shape[0], H, d)
            k = linear(P, a + "k_proj" + sfx, t).view(t.shape[0], Hkv, d)
            v = linear(P, a + "v_proj" + sfx, t)
            q = rms_norm(q, P[a + "q_norm" + sfx + ".weight"], eps)
            k = rms_norm(k, P[a + "k_norm" + sfx + ".weight"], eps)
            return torch.cat([q.reshape(t.shape[0], H * d), k.reshape(t.shape[0], Hkv * d), v], 1)
        return f

    qkv = r.apply(n, project(""), project("_moe_gen"))
    q = qkv[:, :H * d].view(L, H, d)
    k = qkv[:, H * d:H * d + Hkv * d].view(L, Hkv, d)
    v = qkv[:, H * d + Hkv * d:].view(L, Hkv, d)
    q = apply_rope(q, cos, sin)
    k = apply_rope(k, cos, sin)
    a = packed_attention(q, k, v, mb, impl).reshape(L, H * d)
    a = r.apply(a, lambda t: linear(P, pre + "self_attn.o_proj", t, bias=False),
                lambda t: linear(P, pre + "self_attn.o_proj_moe_gen", t, bias=False))
    x = h + a

    def mlp(sfx, ln):
        def f(t):
            t = rms_norm(t, P[pre + ln + ".weight"], eps)
            m = pre + "mlp" + sfx + "."
            return linear(P, m + "down_proj", F.silu(linear(P, m + "gate_proj", t, False)) *
                          linear(P, m + "up_proj", t, False), False)
        return f

    return x + r.apply(x, mlp("", "post_attention_layernorm"), mlp("_moe_gen", "post_attention_layernorm_moe_gen"))


def siglip(P, patches, pos_ids, seqlens, vcfg):
    pre = "vit_model.vision_model."
    eps = vcfg["layer_norm_eps"]
    heads = vcfg["num_attention_heads"]
    h = linear(P, pre + "embeddings.patch_embedding", patches) + \
        F.embedding(pos_ids, P[pre + "embeddings.position_embedding.weight"])
    N, D = h.shape
    hd = D // heads
    for i in range(vcfg["num_hidden_layers"]):
        lp = pre + f"encoder.layers.{i}."
        x = F.layer_norm(h, (D,), P[lp + "layer_norm1.weight"], P[lp + "layer_norm1.bias"], eps)

        def split(t):
            return t.view(N, heads, hd).transpose(0, 1)

        q, k, v = (split(linear(P, lp + "self_attn." + n, x)) for n in ("q_proj", "k_proj", "v_proj"))
        outs = []
        b = 0
        for n in seqlens:
            outs.append(F.scaled_dot_product_attention(q[:, b:b + n], k[:, b:b + n], v[:, b:b + n]))
            b += n
        a = linear(P, lp + "self_attn.out_proj", torch.cat(outs, 1).transpose(0, 1).reshape(N, D))
        h = h + a
        x = F.layer_norm(h, (D,), P[lp + "layer_norm2.weight"], P[lp + "layer_norm2.bias"], eps)
        h = h + linear(P, lp + "mlp.fc2", F.gelu(linear(P, lp + "mlp.fc1", x), approximate="tanh"))
    return F.layer_norm(h, (D,), P[pre + "post_layernorm.weight"], P[pre + "post_layernorm.bias"], eps)


def timestep_embed(P, t, freq_dim=256):
    half = freq_dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    f = torch.cat([args.cos(), args.sin()], 1)
    return linear(P, "time_embedder.mlp.2", F.silu(linear(P, "time_embedder.mlp.0", f)))


def forward_loss(P, mb, meta, impl):
    """-> (loss tensor, ce_sum float, mse_sum float) of one micro-batch (losses.cpp + trainer.cpp)."""
    T = mb["t"]
    cfg = meta["llm"]
    L, D = mb["sequence_length"], cfg["hidden_size"]
    emb = F.embedding(T["text_ids"], P["language_model.model.embed_tokens.weight"])
    h = torch.zeros(L, D).index_copy(0, T["text_indexes"], emb)
    gen_mask = torch.zeros(L, dtype=torch.bool)
    if "vit_tokens" in T:
        v = siglip(P, T["vit_tokens"], T["vit_position_ids"], mb["vit_token_seqlens"], meta["vit"])
        v = linear(P, "connector.fc2", F.gelu(linear(P, "connector.fc1", v), approximate="tanh")) + \
            P["vit_pos_embed.pos_embed"].index_select(0, T["vit_position_ids"])
        h = h.index_copy(0, T["vit_token_indexes"], v)
    if "vae_tokens" in T:
        x = linear(P, "vae2llm", T["vae_tokens"]) + timestep_embed(P, T["timesteps"]) + \
            P["latent_pos_embed.pos_embed"].index_select(0, T["latent_position_ids"])
        h = h.index_copy(0, T["vae_token_indexes"], x)
        gen_mask.index_fill_(0, T["vae_token_indexes"], True)
    r = Route(gen_mask)
    # As ours: RoPE tables and the attention plan / masks are built from the layout inside every forward.
    cos, sin = rope_cos_sin(T["position_ids"], cfg["head_dim"], cfg["rope_theta"])
    mb = dict(mb)
    if impl == "dense":
        mb["dense"] = sample_masks(mb["splits"])
    else:
        mb["plan"] = split_plan(mb["splits"])
    for i in range(cfg["num_hidden_layers"]):
        h = decoder_layer(P, i, h, r, cos, sin, mb, cfg, impl)
    eps = cfg["rms_norm_eps"]
    h = r.apply(h, lambda t: rms_norm(t, P["language_model.model.norm.weight"], eps),
                lambda t: rms_norm(t, P["language_model.model.norm_moe_gen.weight"], eps))
    loss = torch.zeros(())
    ce = mse = torch.zeros(())
    if mb["ce_tokens"] > 0:
        logits = F.linear(h.index_select(0, T["ce_indexes"]), P["language_model.lm_head.weight"]).float()
        ce = F.cross_entropy(logits, T["ce_labels"], reduction="sum")
        loss = loss + meta["ce_weight"] * ce / mb["ce_tokens"]
    if mb["mse_tokens"] > 0:
        v = linear(P, "llm2vae", h.index_select(0, T["mse_indexes"])).float()
        mse = (v - T["mse_targets"]).pow(2).mean(-1).sum()
        loss = loss + meta["mse_weight"] * mse / mb["mse_tokens"]
    return loss, ce, mse


def run(meta, weights, mbs, steps, impl):
    """steps + 1 optimizer steps from the initial weights -> (losses, timed tokens/s)."""
    P = {k: v.clone() for k, v in weights.items()}
    trainable = [P[n].requires_grad_(True) for n in meta["trainable"]]
    o = meta["optim"]
    opt = torch.optim.AdamW(trainable, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                            weight_decay=o["weight_decay"])
    losses, seconds, cpu, fwd_bwd, tokens = [], 0.0, 0.0, 0.0, 0
    for step in range(steps + 1):
        mb = mbs[step % len(mbs)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        loss, ce, mse = forward_loss(P, mb, meta, impl)
        loss.backward()
        ce_v, mse_v = float(ce.detach()), float(mse.detach())
        t_fb = time.perf_counter() - t0
        torch.nn.utils.clip_grad_norm_(trainable, o["max_grad_norm"])
        opt.step()
        opt.zero_grad()
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        l = 0.0
        if mb["ce_tokens"] > 0:
            l += meta["ce_weight"] * ce_v / mb["ce_tokens"]
        if mb["mse_tokens"] > 0:
            l += meta["mse_weight"] * mse_v / mb["mse_tokens"]
        losses.append(l)
        if step > 0:
            seconds += dt
            cpu += dc
            fwd_bwd += t_fb
            tokens += mb["num_tokens"]
    return losses, {"tokens_per_s": tokens / seconds, "tokens_per_cpu_s": tokens / cpu,
                    "step_ms": 1000 * seconds / steps, "fwd_bwd_ms": 1000 * fwd_bwd / steps,
                    "opt_ms": 1000 * (seconds - fwd_bwd) / steps}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attn", choices=["splitwise", "dense"], default="splitwise")
    ap.add_argument("--both", action="store_true", help="also time the dense-mask attention")
    ap.add_argument("--cpp-losses", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.dir, "bench.json")) as f:
        meta = json.load(f)
    weights = load_file(os.path.join(a.dir, "weights.safetensors"))
    bt = load_file(os.path.join(a.dir, "batches.safetensors"))
    mbs = []
    for i, m in enumerate(meta["micro_batches"]):
        p = f"mb{i}."
        m = dict(m)
        m["t"] = {k[len(p):]: v for k, v in bt.items() if k.startswith(p)}
        mbs.append(m)
    losses, st = run(meta, weights, mbs, a.steps, a.attn)
    print("py_losses=" + ",".join(f"{l:.9g}" for l in losses))
    for k, v in st.items():
        print(f"py_{k}={v:.3f}")
    if a.both:
        other = "dense" if a.attn == "splitwise" else "splitwise"
        l2, st2 = run(meta, weights, mbs, a.steps, other)
        print(f"py_{other}_losses=" + ",".join(f"{l:.9g}" for l in l2))
        for k, v in st2.items():
            print(f"py_{other}_{k}={v:.3f}")
    if a.cpp_losses:
        cpp = [float(x) for x in a.cpp_losses.split(",")]
        rel = abs(losses[0] - cpp[0]) / abs(cpp[0])
        print(f"step1 loss: cpp {cpp[0]:.9g} python {losses[0]:.9g} rel {rel:.3e}")
        for i, (x, y) in enumerate(zip(cpp, losses)):
            print(f"  step {i + 1}: cpp {x:.9g} python {y:.9g} rel {abs(x - y) / abs(x):.3e}")
        if rel > 1e-4:
            raise SystemExit(3)


if __name__ == "__main__":
    main()
