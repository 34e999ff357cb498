"""Reference of the input and output handling of BAGEL's inference code (issue #17, "every path"), written by us from
the semantics of ByteDance-Seed/Bagel's inferencer.py (InterleaveInferencer.decode_image, interleave_inference),
app.py, data/data_utils.py (pil_img2rgb) and data/transforms.py (MaxLongEdgeMinShortEdgeResize), with PIL, numpy
and torch only (no torchvision: its Resize on a PIL image is PIL's resize with the same filter).

Subcommands (tests/infer/test_bagel_parity.cpp):
  quantize IN OUT     IN: safetensors with "x" [3, H, W] in [-1, 1] (the decoder's output) -> OUT: the PNG
                      decode_image writes: (x * 0.5 + 0.5).clamp(0, 1) * 255, cast to uint8.
  alpha DIR           writes DIR/<case>.png with PIL (RGBA, LA, palette + tRNS, RGB + tRNS, L + tRNS) and
                      DIR/<case>.rgb.png, what pil_img2rgb makes of each (RGBA / transparency: pasted on white
                      with the alpha as mask; otherwise convert("RGB")).
  edit IN DIR         the two copies of an image to edit: DIR/vae.png = IN resized by the VAE transform (1024, 512,
                      16), DIR/vit.png = that copy resized by the ViT transform (980, 224, 14); DIR/vit_direct.png =
                      IN resized straight to the ViT size (what BAGEL does not do). Prints the sizes as JSON.
  chat_sizes W H      prints the ViT sizes of a W x H understanding input under Bagel.chat (VLM transform 980, 378,
                      14, max_pixels 2007040) and under InterleaveInferencer (VAE transform, then ViT transform).
  noise SEED C H W N D OUT   the app's draws for editing (app.py set_seed -> torch.manual_seed): the VAE posterior
                      noise randn_like of a [1, C, H, W] mean, then the initial noise randn(N, D), from the one
                      default CPU generator, in that order -> OUT safetensors {"posterior", "init"}.
  plan TOKENIZER SYSTEM PROMPT PLAN   (files holding the texts) the full context of text-to-image think mode as
                      interleave_inference builds it: each text encoded by the tokenizer (HF tokenizers on the same
                      tokenizer.json), framed by <|im_start|> / <|im_end|> at consecutive positions (prepare_prompts),
                      the plan being gen_text's *text*, re-encoded. Prints {"plan_ids", "plan_position"} as JSON.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

DEFAULT_MAX_PIXELS = 14 * 14 * 9 * 1024


def transform_size(width, height, max_size, min_size, stride, max_pixels=DEFAULT_MAX_PIXELS):
    """MaxLongEdgeMinShortEdgeResize's output size (width, height) for one image."""
    def divisible(v):
        return max(stride, int(round(v / stride) * stride))

    def scaled(w, h, s):
        return divisible(round(w * s)), divisible(round(h * s))

    scale = min(max_size / max(width, height), 1.0)
    scale = max(scale, min_size / min(width, height))
    w, h = scaled(width, height, scale)
    if w * h > max_pixels:
        w, h = scaled(w, h, max_pixels / (w * h))
    if max(w, h) > max_size:
        w, h = scaled(w, h, max_size / max(w, h))
    return w, h


def resize(img, size):
    return img if img.size == size else img.resize(size, Image.BICUBIC)


def to_rgb_like_bagel(img):
    if img.mode == "RGBA" or img.info.get("transparency", None) is not None:
        img = img.convert("RGBA")
        white = Image.new("RGB", img.size, (255, 255, 255))
        white.paste(img, mask=img.split()[3])
        return white
    return img.convert("RGB")


def cmd_quantize(src, dst):
    x = load_file(src)["x"].float()
    v = (x * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0) * 255
    Image.fromarray(v.to(torch.uint8).numpy()).save(dst)


def cmd_alpha(out):
    rng = np.random.default_rng(17)
    h, w = 9, 13
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[0, :, 3] = 0
    rgba[1, :, 3] = 255
    cases = {
        "rgba": Image.fromarray(rgba, "RGBA"),
        "la": Image.fromarray(rgba[..., [0, 3]], "LA"),
    }
    pal = Image.fromarray(rng.integers(0, 6, (h, w), dtype=np.uint8), "P")
    pal.putpalette(list(rng.integers(0, 256, 6 * 3, dtype=np.uint8)))
    pal.info["transparency"] = bytes([0, 128, 255, 7, 200, 64])
    cases["p_trns"] = pal
    rgb = Image.fromarray(rng.integers(0, 4, (h, w, 3), dtype=np.uint8) * 60, "RGB")
    rgb.info["transparency"] = (60, 120, 0)
    cases["rgb_trns"] = rgb
    gray = Image.fromarray(rng.integers(0, 4, (h, w), dtype=np.uint8) * 70, "L")
    gray.info["transparency"] = 140
    cases["l_trns"] = gray
    for name, img in cases.items():
        path = os.path.join(out, name + ".png")
        img.save(path, transparency=img.info["transparency"]) if "transparency" in img.info else img.save(path)
        back = Image.open(path)  # what BAGEL's app receives: the file as PIL opens it
        back.load()
        to_rgb_like_bagel(back).save(os.path.join(out, name + ".rgb.png"))


def cmd_edit(src, out):
    img = to_rgb_like_bagel(Image.open(src))
    vae_size = transform_size(*img.size, 1024, 512, 16)
    vae = resize(img, vae_size)
    vit_size = transform_size(*vae.size, 980, 224, 14)
    resize(vae, vit_size).save(os.path.join(out, "vit.png"))
    resize(img, vit_size).save(os.path.join(out, "vit_direct.png"))
    vae.save(os.path.join(out, "vae.png"))
    # BAGEL's prepare_vae_images applies the VAE transform again to the resized copy; it must be a fixed point.
    again = transform_size(*vae.size, 1024, 512, 16)
    print(json.dumps({"vae": list(vae_size), "vit": list(vit_size), "vae_again": list(again)}))


def cmd_chat_sizes(w, h):
    vae = transform_size(w, h, 1024, 512, 16)
    print(json.dumps({"bagel": list(transform_size(w, h, 980, 378, 14, 2007040)),
                      "inferencer": list(transform_size(*vae, 980, 224, 14)), "inferencer_vae": list(vae)}))


def cmd_noise(seed, c, h, w, n, d, out):
    torch.manual_seed(seed)
    mean = torch.zeros(1, c, h, w)
    posterior = torch.randn_like(mean)
    init = torch.randn(n, d)
    save_file({"posterior": posterior.contiguous(), "init": init.contiguous()}, out)


def cmd_plan(tokenizer, *paths):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer)
    rope, out = 0, {}
    for i, path in enumerate(paths):
        with open(path, encoding="utf-8") as f:
            ids = tok.encode(f.read(), add_special_tokens=False).ids
        if i == len(paths) - 1:
            out = {"plan_ids": ids, "plan_position": rope}
        rope += len(ids) + 2  # [<|im_start|>] + ids + [<|im_end|>]
    print(json.dumps(out))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "quantize":
        cmd_quantize(*args)
    elif cmd == "alpha":
        cmd_alpha(*args)
    elif cmd == "edit":
        cmd_edit(*args)
    elif cmd == "chat_sizes":
        cmd_chat_sizes(int(args[0]), int(args[1]))
    elif cmd == "noise":
        cmd_noise(*[int(a) for a in args[:6]], args[6])
    elif cmd == "plan":
        cmd_plan(*args)
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
