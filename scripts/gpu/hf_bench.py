#!/usr/bin/env python3
"""Measured limits of the GPU and transformers' speed at the same shapes, for `run_gpu_checks.sh`.

limits: a large device-to-device copy (bytes read + written per second) and a large bf16 matrix
product (FLOP/s), both timed with CUDA events, median of many runs.
generate: transformers' `generate` with a static batch of random prompts (bf16, random weights from
the config, sdpa attention): prefill time (max_new_tokens=1) and decode tokens per second.
"""
import argparse, json, os, statistics, time
import torch

def random_model(config, dtype=torch.bfloat16, device="cuda"):
    """The model of a config folder with transformers' random init, built directly on the device (no
    file is written or read)."""
    from transformers import AutoConfig, AutoModelForCausalLM
    cfg = AutoConfig.from_pretrained(config)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype).eval()
    return cfg, model

def timed(fn, reps):
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    return statistics.median(times)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config")
    ap.add_argument("--shapes", default="1x32x128", help="comma list of BATCHxINPUTxOUTPUT")
    ap.add_argument("--limits", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}

    if a.limits:
        n = 4 << 30
        x = torch.randint(0, 255, (n,), dtype=torch.uint8, device="cuda")
        y = torch.empty_like(x)
        y.copy_(x)
        t = timed(lambda: y.copy_(x), 20)
        result["copy_bytes"] = n
        result["bandwidth_bytes_per_s"] = 2 * n / t
        del x, y
        m = 8192
        sets = [(torch.randn(m, m, device="cuda", dtype=torch.bfloat16), torch.randn(m, m, device="cuda", dtype=torch.bfloat16)) for _ in range(3)]
        for p, q in sets: torch.mm(p, q)
        i = [0]
        def mm():
            p, q = sets[i[0] % 3]; i[0] += 1
            torch.mm(p, q)
        t = timed(mm, 30)
        result["matmul_shape"] = [m, m, m]
        result["matmul_flops_per_s"] = 2 * m ** 3 / t
        del sets
        # FP8 e4m3 tensor-core rate (per-tensor scales, bf16 out), the limit of FP8 matrix products.
        try:
            a8 = torch.randn(m, m, device="cuda").to(torch.float8_e4m3fn)
            b8 = torch.randn(m, m, device="cuda").to(torch.float8_e4m3fn).t()
            one = torch.tensor(1.0, device="cuda")
            mm8 = lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            mm8()
            result["fp8_matmul_flops_per_s"] = 2 * m ** 3 / timed(mm8, 30)
        except Exception as e:  # a torch without _scaled_mm
            result["fp8_matmul_error"] = repr(e)
        torch.cuda.empty_cache()

    if a.config:
        cfg, model = random_model(a.config)
        result["params"] = sum(p.numel() for p in model.parameters())
        runs = []
        for shape in a.shapes.split(","):
            b, l, o = map(int, shape.split("x"))
            ids = torch.randint(0, cfg.vocab_size, (b, l), device="cuda")
            mask = torch.ones_like(ids)
            def gen(n):
                torch.cuda.synchronize(); t0 = time.perf_counter()
                with torch.inference_mode():
                    model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
                torch.cuda.synchronize(); return time.perf_counter() - t0
            gen(2)
            prefill = statistics.median([gen(1) for _ in range(3)])
            full = statistics.median([gen(o) for _ in range(2)])
            runs.append({"batch_size": b, "input_len": l, "output_len": o, "prefill_seconds": prefill, "total_seconds": full,
                         "prefill_tokens_per_s": b * l / prefill,
                         "decode_tokens_per_s": b * (o - 1) / max(full - prefill, 1e-9),
                         "total_tokens_per_s": b * (l + o) / full})
            print(json.dumps(runs[-1]), flush=True)
        result["generate"] = runs
    json.dump(result, open(a.out, "w"), indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "generate"}))


if __name__ == "__main__":
    main()
