#!/usr/bin/env python3
"""PyTorch/transformers reference for bench_cuda.cc: a LlamaForCausalLM of
SmolLM2-135M's shape with random weights (30 layers, d_model 576, 9 heads,
3 KV heads, ffn 1536, vocab 49152, tied embeddings), timed the same way:
decode tokens/s at batch 1, 16 and 64 after a 32-token prompt, and prefill
tokens/s of a 512-token prompt; eager (dynamic cache) and with a static
cache + torch.compile. Writes JSON; a mode that fails is recorded, not fatal.

Usage: torch_compare.py --out bench_torch.json [--steps 64] [--dtype bfloat16]
"""
import argparse
import json
import time
import traceback

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def make_model(dtype):
    cfg = LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=2048,
        rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device="cuda", dtype=dtype).eval()
    return model


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def decode_rate(model, batch, steps, static):
    """Tokens/s of `steps` greedy tokens: generate(steps + 1) minus generate(1),
    so the prompt's prefill and the first token cancel out."""
    ids = torch.randint(0, model.config.vocab_size, (batch, 32), device="cuda")
    kw = dict(do_sample=False, pad_token_id=0)
    if static:
        kw["cache_implementation"] = "static"

    def gen(n):
        return lambda: model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)

    for _ in range(2):  # warm-up (and compilation)
        gen(steps + 1)()
    t_long = min(timed(gen(steps + 1)) for _ in range(2))
    t_short = min(timed(gen(1)) for _ in range(2))
    return batch * steps / max(t_long - t_short, 1e-9)


def prefill_rate(model, forward, prompt=512, reps=5):
    ids = torch.randint(0, model.config.vocab_size, (1, prompt), device="cuda")
    with torch.no_grad():
        for _ in range(2):
            forward(ids)
        t = sum(timed(lambda: forward(ids)) for _ in range(reps))
    return prompt * reps / t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_torch.json")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    result = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": args.dtype,
        "model": "random, SmolLM2-135M shape (LlamaForCausalLM)",
        "decode_steps": args.steps,
        "results": [],
        "errors": [],
    }
    model = make_model(dtype)

    def record(kind, mode, batch, fn):
        try:
            rate = fn()
            result["results"].append({"kind": kind, "mode": mode, "batch": batch, "tokens_per_s": round(rate, 2)})
            print(f"{kind:8s} {mode:22s} batch {batch:2d}: {rate:10.1f} tok/s", flush=True)
        except Exception as e:  # keep the other measurements
            result["errors"].append({"kind": kind, "mode": mode, "batch": batch, "error": repr(e)})
            traceback.print_exc()

    with torch.no_grad():
        for batch in (1, 16, 64):
            record("decode", "eager", batch, lambda: decode_rate(model, batch, args.steps, static=False))
        record("prefill", "eager", 1, lambda: prefill_rate(model, lambda ids: model(ids, use_cache=False)))
        compiled = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
        model.forward = compiled
        for batch in (1, 16, 64):
            record("decode", "static+torch.compile", batch, lambda: decode_rate(model, batch, args.steps, static=True))
        record("prefill", "torch.compile", 1, lambda: prefill_rate(model, lambda ids: compiled(ids, use_cache=False)))

    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
