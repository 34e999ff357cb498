#!/usr/bin/env python3
"""Reference of `sgt eval loss` (tests/eval/test_eval_loss.cpp): the CE and MSE of BAGEL's Bagel.forward
(modeling/bagel/bagel.py) with the reductions of its training loop (train/pretrain_unified_navit.py), written by us
in plain torch from their semantics, on what `sgt eval loss` wrote:

  --inputs   (--save-inputs) per sample i the tensors Bagel.forward takes, under its names with the prefix "<i>.":
             packed_text_ids, packed_text_indexes, packed_position_ids, packed_vit_tokens, packed_vit_position_ids,
             packed_vit_token_indexes, vit_token_seqlens, padded_latent (and padded_images, what the training loop
             encodes into it), packed_latent_position_ids, packed_vae_token_indexes, packed_timesteps (raw N(0, 1)
             draws per VAE token, -inf for clean images), mse_loss_indexes, packed_label_ids, ce_loss_indexes,
             ce_loss_weights; the lists (sequence_length, sample_lens, split_lens, attn_modes,
             patchified_vae_latent_shapes) in the metadata "sgt.samples" (JSON), the model config in "sgt.model_config"
             and the timestep shift in "sgt.timestep_shift".
  --noise    (--save-noise) "<i>.<k>.noise" [h*w, patch_latent_dim]: the eps of VAE image k of sample i, which
             Bagel.forward draws itself (randn_like over every VAE token; clean tokens have t = 0, so theirs does
             not matter and is 0 here).
  --weights  the model's safetensors.

Bagel.forward, per sample: text embeddings placed at packed_text_indexes; SigLIP NaViT -> connector + vit_pos_embed
at packed_vit_token_indexes; each padded_latent cropped to its (h, w) and patchified ("chpwq->hwpqc"), t =
sigmoid(packed_timesteps), t = s t / (1 + (s - 1) t), x_t = (1 - t) x0 + t eps, vae2llm(x_t) + time_embedder(t) +
latent_pos_embed at packed_vae_token_indexes; the Qwen2-MoT decoder with und tokens (text + ViT) and gen tokens (VAE)
routed to their experts, attention under create_sparse_mask(sample_lens, split_lens, attn_modes) (data/data_utils.py:
causal, or the same full / noise split, never a key of another noise split, never across samples); then
mse = (llm2vae(h[mse_loss_indexes]) - (eps - x0)[t > 0])^2 and ce = cross_entropy(lm_head(h[ce_loss_indexes]),
packed_label_ids, reduction none). The loop's reductions: CE sum / CE tokens (ce_loss_weights all 1), MSE
mean(-1).sum() / MSE tokens. One extension of ours: a model with "prediction": "x0" predicts x0, and its velocity is
(x_t - x0_hat) / max(t, prediction_t_min) (docs/model.md).

The layers (decoder layer, SigLIP, timestep embedder, RoPE, routing) are tools/train_bench.py's plain-torch ones.
Prints one JSON line per sample: {"index", "ce_sum", "ce_tokens", "ce_mean", "mse_sum", "mse_tokens", "mse_mean"}.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_bench as tb  # noqa: E402


def sparse_mask(sample_lens, split_lens, attn_modes):
    """create_sparse_mask as a dense bool [L, L] (True: q may attend to kv)."""
    full_noise, noise = [], []
    for i, (n, mode) in enumerate(zip(split_lens, attn_modes)):
        full_noise += [i if mode in ("full", "noise") else -1] * n
        noise += [i if mode == "noise" else -1] * n
    fn, nz = torch.tensor(full_noise), torch.tensor(noise)
    doc = torch.cat([torch.full((n,), i) for i, n in enumerate(sample_lens)])
    idx = torch.arange(fn.numel())
    causal = idx[:, None] >= idx[None, :]
    same_full = (fn[:, None] == fn[None, :]) & (fn[:, None] >= 0)
    no_other_noise = ~((nz[None, :] >= 0) & (nz[:, None] != nz[None, :]))
    same_doc = doc[:, None] == doc[None, :]
    return (causal | same_full) & no_other_noise & same_doc


def sample_losses(P, T, N, meta, cfg, shift):
    llm = dict(cfg["llm"])
    if llm["layer_module"] != "Qwen2MoTDecoderLayer" or not llm["qk_norm"]:
        raise SystemExit("bagel_loss_ref: only the MoT decoder with q/k norm is implemented")
    llm["head_dim"] = llm["head_dim"] or llm["hidden_size"] // llm["num_attention_heads"]
    i, L = meta["index"], meta["sequence_length"]
    emb = F.embedding(T["packed_text_ids"], P["language_model.model.embed_tokens.weight"])
    seq = emb.new_zeros(L, llm["hidden_size"])
    seq[T["packed_text_indexes"]] = emb
    if "packed_vit_tokens" in T:
        pos = T["packed_vit_position_ids"]
        v = tb.siglip(P, T["packed_vit_tokens"], pos, T["vit_token_seqlens"].tolist(), cfg["vit"])
        v = tb.linear(P, "connector.fc2", F.gelu(tb.linear(P, "connector.fc1", v), approximate="tanh"))
        seq[T["packed_vit_token_indexes"]] = v + P["vit_pos_embed.pos_embed"][pos]
    gen = torch.zeros(L, dtype=torch.bool)
    if "padded_latent" in T:
        p = cfg["latent_patch_size"]
        C = T["padded_latent"].shape[1]
        clean, noise = [], []
        for k, (lat, (h, w)) in enumerate(zip(T["padded_latent"], meta["patchified_vae_latent_shapes"])):
            lat = lat[:, :h * p, :w * p].reshape(C, h, p, w, p)
            clean.append(torch.einsum("chpwq->hwpqc", lat).reshape(-1, p * p * C))
            noise.append(N.get(f"{i}.{k}.noise", torch.zeros_like(clean[-1])))
        x0, eps = torch.cat(clean), torch.cat(noise)
        t = torch.sigmoid(T["packed_timesteps"])
        t = shift * t / (1 + (shift - 1) * t)
        x_t = (1 - t[:, None]) * x0 + t[:, None] * eps
        x = tb.linear(P, "vae2llm", x_t) + tb.timestep_embed(P, t) + \
            P["latent_pos_embed.pos_embed"][T["packed_latent_position_ids"]]
        seq[T["packed_vae_token_indexes"]] = x
        gen[T["packed_vae_token_indexes"]] = True
    route = tb.Route(gen)  # und: text + ViT tokens, gen: VAE tokens (packed_und / packed_gen_token_indexes)
    cos, sin = tb.rope_cos_sin(T["packed_position_ids"], llm["head_dim"], llm["rope_theta"])
    attn = {"dense": [(0, L, sparse_mask(meta["sample_lens"], meta["split_lens"], meta["attn_modes"]))]}
    h = seq
    for layer in range(llm["num_hidden_layers"]):
        h = tb.decoder_layer(P, layer, h, route, cos, sin, attn, llm, "dense")
    eps_norm = llm["rms_norm_eps"]
    h = route.apply(h, lambda z: tb.rms_norm(z, P["language_model.model.norm.weight"], eps_norm),
                    lambda z: tb.rms_norm(z, P["language_model.model.norm_moe_gen.weight"], eps_norm))
    out = {"index": i, "ce_sum": 0.0, "ce_tokens": 0, "ce_mean": 0.0, "mse_sum": 0.0, "mse_tokens": 0, "mse_mean": 0.0}
    if "mse_loss_indexes" in T:
        pred = tb.linear(P, "llm2vae", h[T["mse_loss_indexes"]])
        has_mse = t > 0
        if cfg["prediction"] == "x0":
            pred = (x_t[has_mse] - pred) / t[has_mse].clamp_min(cfg["prediction_t_min"])[:, None]
        mse = (pred - (eps - x0)[has_mse]) ** 2
        n = T["mse_loss_indexes"].numel()
        out.update(mse_sum=float(mse.mean(dim=-1).sum()), mse_tokens=n)
        out["mse_mean"] = out["mse_sum"] / n
    if "ce_loss_indexes" in T:
        logits = F.linear(h[T["ce_loss_indexes"]], P["language_model.lm_head.weight"])
        ce = F.cross_entropy(logits, T["packed_label_ids"], reduction="none")
        n = T["ce_loss_indexes"].numel()
        out.update(ce_sum=float(ce.sum()), ce_tokens=n)
        out["ce_mean"] = out["ce_sum"] / n
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--noise", required=True)
    ap.add_argument("--weights", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with safe_open(a.inputs, "pt") as f:
        md = f.metadata()
    samples = json.loads(md["sgt.samples"])
    cfg = json.loads(md["sgt.model_config"])
    shift = float(json.loads(md["sgt.timestep_shift"]))
    inputs = load_file(a.inputs)
    noise = load_file(a.noise)
    P = load_file(a.weights)
    with torch.no_grad():
        for meta in samples:
            p = f"{meta['index']}."
            T = {k[len(p):]: v for k, v in inputs.items() if k.startswith(p)}
            print(json.dumps(sample_losses(P, T, noise, meta, cfg, shift)))


if __name__ == "__main__":
    main()
