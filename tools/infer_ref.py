"""PyTorch-Python reference of one BAGEL image-sampler step with CFG over KV caches (docs/inference.md, "Image
sampler" and "Classifier-free guidance").

Used by bench/infer: the same work as sgt::infer::sample_latents per step -- for each of the three CFG branches a
query chunk [<|vision_start|>, N latent tokens, <|vision_end|>] (markers through the und expert, latents through the
gen expert, q/k RMSNorm, RoPE, GQA attention over cache + chunk, SwiGLU MLPs, final norms, llm2vae), then the
"global" CFG combination and the Euler update. Written from those docs with plain torch ops; the weights are random
(timing only). Prints one JSON line: per-step latency (median, seconds) and peak RSS (MiB).
"""
import argparse
import json
import resource
import time

import torch


def rms(x, w, eps=1e-6):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope(pos, d, theta=1e6):
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)
    f = pos.float()[:, None] * inv[None]
    e = torch.cat([f, f], -1)
    return e.cos(), e.sin()


def apply_rope(x, cos, sin):
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], -1)
    return x * cos[:, None] + rot * sin[:, None]


class Expert:
    def __init__(self, D, H, Hkv, d, I, g):
        r = lambda *s: torch.randn(*s, generator=g) * 0.02
        self.q, self.qb = r(H * d, D), r(H * d)
        self.k, self.kb = r(Hkv * d, D), r(Hkv * d)
        self.v, self.vb = r(Hkv * d, D), r(Hkv * d)
        self.o = r(D, H * d)
        self.gate, self.up, self.down = r(I, D), r(I, D), r(D, I)
        self.ln1, self.ln2, self.qn, self.kn = torch.ones(D), torch.ones(D), torch.ones(d), torch.ones(d)


def layer_forward(x, gen, experts, cos, sin, cache, H, Hkv, d):
    """x [n, D]; gen bool [n]; cache (K [m, Hkv, d], V) or None -> new x, (K, V) of the chunk."""
    und_e, gen_e = experts
    n = x.shape[0]
    parts = [(~gen).nonzero().flatten(), gen.nonzero().flatten()]
    q = torch.empty(n, H, d); k = torch.empty(n, Hkv, d); v = torch.empty(n, Hkv, d)
    for idx, e in zip(parts, (und_e, gen_e)):
        if idx.numel() == 0:
            continue
        h = rms(x[idx], e.ln1)
        q[idx] = rms(torch.nn.functional.linear(h, e.q, e.qb).view(-1, H, d), e.qn)
        k[idx] = rms(torch.nn.functional.linear(h, e.k, e.kb).view(-1, Hkv, d), e.kn)
        v[idx] = torch.nn.functional.linear(h, e.v, e.vb).view(-1, Hkv, d)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    K = torch.cat([cache[0], k]) if cache is not None else k
    V = torch.cat([cache[1], v]) if cache is not None else v
    rep = H // Hkv
    a = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(0, 1), K.repeat_interleave(rep, 1).transpose(0, 1), V.repeat_interleave(rep, 1).transpose(0, 1))
    a = a.transpose(0, 1).reshape(n, H * d)
    out = x.clone()
    for idx, e in zip(parts, (und_e, gen_e)):
        if idx.numel() == 0:
            continue
        hh = x[idx] + torch.nn.functional.linear(a[idx], e.o)
        m = rms(hh, e.ln2)
        out[idx] = hh + torch.nn.functional.linear(
            torch.nn.functional.silu(torch.nn.functional.linear(m, e.gate)) * torch.nn.functional.linear(m, e.up), e.down)
    return out, (k, v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--latent-dim", type=int, default=64)
    ap.add_argument("--context", type=int, default=64, help="cached tokens per CFG branch")
    ap.add_argument("--tokens", type=int, default=64, help="latent tokens N of the query")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    D, H, Hkv, L = a.hidden, a.heads, a.kv_heads, a.layers
    d = D // H
    g = torch.Generator().manual_seed(0)
    experts = [(Expert(D, H, Hkv, d, a.intermediate, g), Expert(D, H, Hkv, d, a.intermediate, g)) for _ in range(L)]
    norm_und, norm_gen = torch.ones(D), torch.ones(D)
    vae2llm, vae2llm_b = torch.randn(D, a.latent_dim, generator=g) * 0.02, torch.zeros(D)
    llm2vae, llm2vae_b = torch.randn(a.latent_dim, D, generator=g) * 0.02, torch.zeros(a.latent_dim)
    marker = torch.randn(2, D, generator=g) * 0.02
    # Prefill: one cache per branch, a causal text context of `context` tokens (not timed).
    caches = []
    for _ in range(3):
        x = torch.randn(a.context, D, generator=g) * 0.02
        cos, sin = rope(torch.arange(a.context), d)
        gen = torch.zeros(a.context, dtype=torch.bool)
        layer_caches = []
        for li in range(L):
            # prefill attention is causal in the real model; the cost is the same order and is not timed here
            x, kv = layer_forward(x, gen, experts[li], cos, sin, None, H, Hkv, d)
            layer_caches.append(kv)
        caches.append(layer_caches)
    N = a.tokens
    gen = torch.zeros(N + 2, dtype=torch.bool)
    gen[1:N + 1] = True
    pos = torch.full((N + 2,), a.context, dtype=torch.int64)
    cos, sin = rope(pos, d)
    xt = torch.randn(N, a.latent_dim, generator=g)
    times = []
    for step in range(a.steps):
        t0 = time.perf_counter()
        # time embedding omitted on both sides' cost scale (a [N, D] add); included as a constant here
        lat = torch.nn.functional.linear(xt, vae2llm, vae2llm_b)
        x_in = torch.cat([marker[:1], lat, marker[1:]])
        vs = []
        for b in range(3):
            x = x_in
            for li in range(L):
                x, _ = layer_forward(x, gen, experts[li], cos, sin, caches[b][li], H, Hkv, d)
            h = rms(x[1:N + 1], norm_gen)
            vs.append(torch.nn.functional.linear(h, llm2vae, llm2vae_b))
        vc, vt, vi = vs
        u = vt + 4.0 * (vc - vt)
        w = vi + 1.5 * (u - vi)
        r = (vc.norm() / (w.norm() + 1e-8)).clamp(0.0, 1.0)
        xt = xt - w * r * 0.02
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"step_median_s": times[len(times) // 2], "step_min_s": times[0],
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


if __name__ == "__main__":
    main()
