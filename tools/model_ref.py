#!/usr/bin/env python3
"""Reference outputs for the model layer's parity tests (tests/model/).

Subcommands write a folder of safetensors files that the C++ tests read:
  qwen2  --out DIR [--arch qwen2|qwen3]  tiny random HF Qwen2ForCausalLM (or Qwen3ForCausalLM, which has q/k
         RMSNorm before RoPE like BAGEL), weights as HF names in model.safetensors, the *_moe_gen copies (equal to
         the und copies) in moe_gen.safetensors, and logits of two samples run separately in ref.safetensors.
  siglip --out DIR   tiny random HF SiglipVisionModel; weights converted to BAGEL's layout (linear patch
         embedding, patch vectors in (py, px, c) order), images of several sizes and their last hidden states.
  vae    --out DIR   tiny random diffusers AutoencoderKL in the FLUX layout (no quant convs), diffusers names;
         encoder moments, posterior mean and a decode.
Tiny geometries are fixed here and mirrored in the C++ tests (comments there point back to this file).
"""
import argparse
import os

import torch
from safetensors.torch import save_file

TINY_LLM = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, rope_theta=10000.0, rms_norm_eps=1e-6,
                max_position_embeddings=256, tie_word_embeddings=False)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def cmd_qwen2(args):
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(0)
    if args.arch == "qwen2":
        cfg = Qwen2Config(**TINY_LLM)
        model = Qwen2ForCausalLM(cfg)
    else:
        cfg = Qwen3Config(**TINY_LLM, attention_bias=True)
        model = Qwen3ForCausalLM(cfg)
    model = model.float().eval()
    randomise(model, 1)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    if args.arch == "qwen3":
        # BAGEL's o_proj has no bias: zero it in the reference and leave it out of the file.
        for k in list(sd):
            if k.endswith("o_proj.bias"):
                with torch.no_grad():
                    model.get_parameter(k).zero_()
                del sd[k]
    gen = {}
    for k, v in sd.items():
        for part in ["input_layernorm", "post_attention_layernorm", "q_proj", "k_proj", "v_proj", "o_proj",
                     "q_norm", "k_norm", "mlp"]:
            tag = "." + part + "."
            if tag in k:
                gen[k.replace(tag, "." + part + "_moe_gen.")] = v.clone()
        if k == "model.norm.weight":
            gen["model.norm_moe_gen.weight"] = v.clone()
    g = torch.Generator().manual_seed(2)
    ids_a = torch.randint(0, cfg.vocab_size, (7,), generator=g)
    ids_b = torch.randint(0, cfg.vocab_size, (5,), generator=g)
    with torch.no_grad():
        la = model(input_ids=ids_a[None]).logits[0]
        lb = model(input_ids=ids_b[None]).logits[0]
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.ref, exist_ok=True)
    save_file(sd, os.path.join(args.out, "model.safetensors"))
    save_file(gen, os.path.join(args.out, "moe_gen.safetensors"))
    save_file({"ids_a": ids_a, "ids_b": ids_b, "logits_a": la.contiguous(), "logits_b": lb.contiguous()},
              os.path.join(args.ref, "ref.safetensors"))
    print("ok", args.arch, len(sd), "tensors")


TINY_VIT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=56,
                patch_size=14, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh")
VIT_SIZES = [(56, 56), (28, 56), (42, 14), (14, 28)]  # (H, W): full grid, then extrapolated sub-grids


def cmd_siglip(args):
    from transformers import SiglipVisionConfig, SiglipVisionModel
    torch.manual_seed(0)
    cfg = SiglipVisionConfig(**TINY_VIT, vision_use_head=False)
    model = SiglipVisionModel(cfg).float().eval()
    randomise(model, 3)
    vm = getattr(model, "vision_model", model)  # transformers 5 dropped the vision_model wrapper
    p, side = cfg.patch_size, cfg.image_size // cfg.patch_size
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("patch_embedding.weight"):
            v = v.permute(0, 2, 3, 1).reshape(v.shape[0], -1)  # conv [o, c, py, px] -> linear, (py, px, c) order
        k = k if k.startswith("vision_model.") else "vision_model." + k  # BAGEL's (transformers 4) names
        sd[k] = v.contiguous()
    g = torch.Generator().manual_seed(4)
    ref = {}
    with torch.no_grad():
        for i, (H, W) in enumerate(VIT_SIZES):
            img = torch.rand((3, H, W), generator=g) * 2 - 1
            ref[f"image_{i}"] = img
            if (H, W) == (cfg.image_size, cfg.image_size):
                out = model(pixel_values=img[None]).last_hidden_state[0]  # the whole HF model
            else:
                # HF only interpolates the table for other sizes; BAGEL extrapolates (row*side + col ids):
                # HF conv patch embedding + gathered table rows, then HF encoder and post_layernorm.
                emb = vm.embeddings.patch_embedding(img[None]).flatten(2).transpose(1, 2)
                ids = (torch.arange(H // p)[:, None] * side + torch.arange(W // p)[None, :]).flatten()
                emb = emb + vm.embeddings.position_embedding.weight[ids][None]
                out = vm.post_layernorm(vm.encoder(inputs_embeds=emb).last_hidden_state)[0]
            ref[f"hidden_{i}"] = out.contiguous()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.ref, exist_ok=True)
    save_file(sd, os.path.join(args.out, "vit.safetensors"))
    save_file(ref, os.path.join(args.ref, "ref.safetensors"))
    print("ok siglip", len(sd), "tensors")


TINY_VAE = dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(32, 64), layers_per_block=1,
                latent_channels=4, norm_num_groups=8, use_quant_conv=False, use_post_quant_conv=False)


def cmd_vae(args):
    from diffusers import AutoencoderKL
    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY_VAE).float().eval()
    randomise(vae, 5)
    g = torch.Generator().manual_seed(6)
    x = torch.rand((2, 3, 32, 24), generator=g) * 2 - 1
    z = torch.randn((1, 4, 4, 6), generator=g)
    with torch.no_grad():
        moments = vae.encoder(x)
        mean = vae.encode(x).latent_dist.mean
        decoded = vae.decode(z).sample
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.ref, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, os.path.join(args.out, "diffusers_ae.safetensors"))
    save_file({"x": x, "z": z, "moments": moments.contiguous(), "mean": mean.contiguous(), "decoded": decoded.contiguous()},
              os.path.join(args.ref, "ref.safetensors"))
    print("ok vae")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("qwen2")
    q.add_argument("--out", required=True)
    q.add_argument("--ref", required=True)
    q.add_argument("--arch", default="qwen2", choices=["qwen2", "qwen3"])
    q.set_defaults(fn=cmd_qwen2)
    v = sub.add_parser("siglip")
    v.add_argument("--out", required=True)
    v.add_argument("--ref", required=True)
    v.set_defaults(fn=cmd_siglip)
    a = sub.add_parser("vae")
    a.add_argument("--out", required=True)
    a.add_argument("--ref", required=True)
    a.set_defaults(fn=cmd_vae)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
