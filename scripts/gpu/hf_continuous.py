#!/usr/bin/env python3
"""Transformers' offline throughput on a request list, the baseline beside `vllm bench throughput
--dataset-path` (same file, same model shape, random weights).

--mode continuous: transformers' continuous batching (paged KV cache, a background generation loop):
  every request goes in with its own max_new_tokens = output_len and EOS switched off.
--mode static: plain `generate` over batches of --batch-size in file order, left-padded, each batch run
  to the longest output_len in it; only each request's own output_len tokens count as output.

The clock covers only the generation (not model creation, not warm-up). With --time-limit the run stops
there and reports what finished: requests, their prompt and output tokens, the elapsed time (tokens of
requests still in flight are left out of the rates and reported apart where visible). The JSON is
written at the start, at the end and on SIGTERM, so a killed or failed run still leaves its figures.
"""
import argparse, inspect, json, os, random, signal, sys, time, traceback

# The GPU machine has no network: a lookup of flash-attention kernels on the Hub must fail at once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_bench import random_model

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True, help="folder with config.json (the model's shape)")
ap.add_argument("--dataset", help="JSON Lines of {prompt_token_ids, output_len} (scripts/gpu/make_dataset.py)")
ap.add_argument("--num-prompts", type=int, default=16, help="without --dataset: this many random requests")
ap.add_argument("--input-len", type=int, default=128)
ap.add_argument("--output-len", type=int, default=64)
ap.add_argument("--mode", choices=["continuous", "static"], default="continuous")
ap.add_argument("--batch-size", type=int, default=64, help="static mode")
ap.add_argument("--do-sample", action="store_true", help="temperature 1, no top-k/top-p (default: greedy)")
ap.add_argument("--time-limit", type=float, default=0, help="seconds of generation, 0: none")
ap.add_argument("--device", default="cuda")
ap.add_argument("--dtype", default="bfloat16")
ap.add_argument("--cb", action="append", default=[], metavar="KEY=VALUE",
                help="continuous: a ContinuousBatchingConfig field (repeatable); on a CPU num_blocks=64, else the "
                     "KV cache takes 90%% of free memory")
ap.add_argument("--api", choices=["manager", "generate_batch"], default="manager",
                help="continuous: the manager (per-request lengths) or generate_batch (one length for all)")
ap.add_argument("--no-warmup", action="store_true", help="continuous: skip the manager's warm-up")
ap.add_argument("--out", required=True)
a = ap.parse_args()

res = {"mode": a.mode, "api": None, "transformers": transformers.__version__, "torch": torch.__version__,
       "device": torch.cuda.get_device_name(0) if a.device.startswith("cuda") and torch.cuda.is_available() else a.device,
       "dtype": a.dtype, "do_sample": a.do_sample, "time_limit": a.time_limit or None, "status": "starting",
       "requests": 0, "requests_finished": 0, "requests_failed": 0, "prompt_tokens": 0, "output_tokens": 0,
       "elapsed_seconds": None, "total_tokens_per_s": None, "output_tokens_per_s": None, "failure": None}


def write():
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, a.out)


class Terminated(BaseException):
    """Raised from the SIGTERM handler: a BaseException, so that no `except Exception` inside
    transformers swallows it, while our `finally` blocks still count what finished."""


def on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated(f"terminated by signal {signum} (an outer time limit)")


signal.signal(signal.SIGTERM, on_sigterm)


def load_requests():
    if a.dataset:
        reqs = []
        for line in open(a.dataset):
            if line.strip():
                o = json.loads(line)
                reqs.append((list(o["prompt_token_ids"]), int(o["output_len"])))
        return reqs
    rng = random.Random(0)
    vocab = json.load(open(os.path.join(a.config, "config.json")))["vocab_size"]
    return [([rng.randrange(vocab) for _ in range(a.input_len)], a.output_len) for _ in range(a.num_prompts)]


def sync():
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()


def sampling_kwargs():
    # Greedy, or plain sampling at temperature 1 as vLLM's `bench throughput` asks (no truncation).
    return dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if a.do_sample else dict(do_sample=False)


def accepted(fn, **kwargs):
    """The keyword arguments `fn` takes: the continuous-batching API changed across 5.x releases."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def run_continuous(model, reqs):
    from transformers import GenerationConfig
    max_out = max(n for _, n in reqs)
    # eos_token_id -1 matches no token: outputs run to their own max_new_tokens, as with --ignore-eos.
    gc = GenerationConfig(max_new_tokens=max_out, eos_token_id=-1, pad_token_id=0, **sampling_kwargs())
    if a.api == "generate_batch" or not hasattr(model, "init_continuous_batching"):
        return run_generate_batch(model, reqs, gc)
    extra = {}
    try:
        from transformers.generation.continuous_batching.utils import WorkloadHints
        extra["workload_hints"] = WorkloadHints(max_prompt_length=max(len(p) for p, _ in reqs),
                                                max_generated_length=max_out, num_requests=len(reqs))
    except ImportError:
        pass
    if a.cb:
        from transformers import ContinuousBatchingConfig
        fields = {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.cb)}
        extra["continuous_batching_config"] = ContinuousBatchingConfig(**fields)
        res["cb_config"] = fields
    manager = model.init_continuous_batching(generation_config=gc, **accepted(model.init_continuous_batching, **extra))
    res["api"] = "init_continuous_batching + ContinuousBatchingManager.add_request (per-request max_new_tokens)"
    res["attn_implementation"] = model.config._attn_implementation
    # Warm-up (5.24: CUDA graphs at the largest sizes) stays out of the timed part, as our engine's
    # kernel compilation does.
    if hasattr(manager, "warmup") and not a.no_warmup:
        t = time.perf_counter()
        manager.warmup()
        res["warmup_seconds"] = time.perf_counter() - t
    # The generation thread takes inference mode from the thread that starts it.
    with torch.inference_mode():
        manager.start()
    add_extra = accepted(manager.add_request, eos_token_id=-1)
    outputs = {}
    start = time.perf_counter()
    try:
        for i, (ids, n) in enumerate(reqs):
            manager.add_request(input_ids=ids, request_id=f"r{i}", max_new_tokens=n, **add_extra)
        deadline = start + a.time_limit if a.time_limit else None
        while len(outputs) < len(reqs):
            if deadline and time.perf_counter() > deadline:
                res["stopped_by_time_limit"] = True
                break
            r = manager.get_result(timeout=0.2)
            if r is None:
                if not getattr(manager, "is_running", lambda: True)():
                    res["failure"] = "the generation thread stopped with requests left"
                    break
                continue
            # Without streaming only final results come back; is_finished() is there to be sure.
            if getattr(r, "is_finished", lambda: True)():
                outputs[r.request_id] = r
    finally:
        # Counted here so that a failure part-way still reports what finished before it.
        res["elapsed_seconds"] = time.perf_counter() - start
        count_outputs(reqs, outputs)
        try:  # tokens of requests still running at the deadline; internal state, so best effort
            active = list(manager.batch_processor.scheduler.active_requests.values())
            res["inflight_requests"] = len(active)
            res["inflight_output_tokens"] = sum(len(getattr(s, "generated_tokens", None) or getattr(s, "static_outputs", []))
                                                for s in active)
        except Exception:
            pass
        manager.stop(**accepted(manager.stop, block=True, timeout=30, hard_stop=True))


def count_outputs(reqs, outputs):
    short = 0
    for i, (ids, n) in enumerate(reqs):
        r = outputs.get(f"r{i}")
        if r is None:
            continue
        if getattr(r, "error", None):
            res["requests_failed"] += 1
            res["failure"] = res["failure"] or f"request r{i}: {r.error}"
            continue
        got = len(r.generated_tokens)
        short += got < n
        res["requests_finished"] += 1
        res["prompt_tokens"] += len(ids)
        res["output_tokens"] += min(got, n)
    res["requests_short"] = short  # ended before output_len: EOS was not switched off after all


def run_generate_batch(model, reqs, gc):
    """Fallback without per-request lengths: every request runs to the longest output_len, and only its
    own output_len tokens count."""
    res["api"] = "generate_batch (one max_new_tokens for all requests; the clock includes its warm-up)"
    start = time.perf_counter()
    warm = accepted(model.generate_batch, warmup=not a.no_warmup)
    out = model.generate_batch(inputs=[p for p, _ in reqs], generation_config=gc, **warm)
    res["elapsed_seconds"] = time.perf_counter() - start
    # A fresh manager numbers the requests req_0, req_1, ... in input order.
    count_outputs(reqs, {f"r{i}": out[f"req_{i}"] for i in range(len(reqs)) if f"req_{i}" in out})


def run_static(model, reqs):
    res["api"] = f"generate (static batches of {a.batch_size}, left padding)"
    res["batch_size"] = a.batch_size
    kw = dict(pad_token_id=0, **sampling_kwargs())

    def generate(batch):
        width = max(len(p) for p, _ in batch)
        ids = torch.tensor([[0] * (width - len(p)) + p for p, _ in batch], device=a.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p, _ in batch], device=a.device)
        m = max(n for _, n in batch)
        # min_new_tokens = max_new_tokens keeps EOS from ending any row early.
        with torch.inference_mode():
            model.generate(ids, attention_mask=mask, max_new_tokens=m, min_new_tokens=m, **kw)
        sync()

    generate([(p[:8], 2) for p, _ in reqs[:2]])  # warm-up
    start = time.perf_counter()
    deadline = start + a.time_limit if a.time_limit else None
    try:
        for b in range(0, len(reqs), a.batch_size):
            if deadline and time.perf_counter() > deadline:
                res["stopped_by_time_limit"] = True
                break
            batch = reqs[b:b + a.batch_size]
            generate(batch)
            res["requests_finished"] += len(batch)
            res["prompt_tokens"] += sum(len(p) for p, _ in batch)
            res["output_tokens"] += sum(n for _, n in batch)
    finally:
        res["elapsed_seconds"] = time.perf_counter() - start


def main():
    write()
    reqs = load_requests()
    res["requests"] = len(reqs)
    res["dataset"] = a.dataset
    t = time.perf_counter()
    torch.manual_seed(0)
    cfg, model = random_model(a.config, dtype=getattr(torch, a.dtype), device=a.device)
    sync()
    res["model_seconds"] = time.perf_counter() - t
    res["params"] = sum(p.numel() for p in model.parameters())
    res["status"] = "running"
    write()
    (run_continuous if a.mode == "continuous" else run_static)(model, reqs)
    res["status"] = "done"


try:
    main()
except BaseException as e:
    res["status"] = "failed"
    res["failure"] = (res["failure"] + "; " if res["failure"] else "") + "".join(traceback.format_exception_only(type(e), e)).strip()
    res["traceback"] = traceback.format_exc()[-3000:]
if res["elapsed_seconds"]:
    res["total_tokens_per_s"] = (res["prompt_tokens"] + res["output_tokens"]) / res["elapsed_seconds"]
    res["output_tokens_per_s"] = res["output_tokens"] / res["elapsed_seconds"]
res["completed"] = res["requests"] > 0 and res["requests_finished"] == res["requests"]
write()
print(json.dumps({k: v for k, v in res.items() if k != "traceback"}), flush=True)
# A generation thread still alive after stop()'s join timeout must not keep the process (and the
# calling script's time budget) going once the figures are written.
os._exit(0 if res["status"] == "done" else 1)
