#!/usr/bin/env python3
"""Reference outputs of Hugging Face transformers on the GPU for `run_gpu_checks.sh`.

For a model folder and a JSON Lines prompts file: the logits of every prompt position (raw
float32, prompts concatenated, same layout as `vllm logits --out`) computed in --dtype, and with
--greedy N the first N greedy tokens of each prompt (EOS not stopping), as JSON.
"""
import argparse, json, time
import numpy as np
import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--prompts", required=True)
ap.add_argument("--dtypes", default="float32", help="comma list; each writes PREFIX_DTYPE.bin / .greedy.json")
ap.add_argument("--out-prefix", required=True)
ap.add_argument("--greedy", type=int, default=0)
a = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
prompts = [json.loads(l)["prompt_token_ids"] for l in open(a.prompts) if l.strip()]
def run(name, dtype):
    # MoE fixtures have odd sizes that transformers' grouped_mm experts path rejects: the eager loop.
    moe = "experts" in open(a.model + "/config.json").read()
    extra = {"experts_implementation": "eager"} if moe else {}
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype, **extra).cuda().eval()
    rows = []
    with torch.inference_mode():
        for p in prompts:
            out = model(torch.tensor([p], device="cuda")).logits[0].float().cpu().numpy()
            rows.append(out)
    np.concatenate(rows).astype(np.float32).tofile(f"{a.out_prefix}_{name}.bin")
    if a.greedy:
        greedy = []
        with torch.inference_mode():
            for p in prompts:
                # The argmax at every step, EOS included, as `--ignore-eos` does (generate's
                # min_new_tokens would ban EOS instead and pick the runner-up).
                out = model(torch.tensor([p], device="cuda"), use_cache=True)
                tokens = []
                for _ in range(a.greedy):
                    token = int(out.logits[0, -1].argmax())
                    tokens.append(token)
                    out = model(torch.tensor([[token]], device="cuda"), past_key_values=out.past_key_values, use_cache=True)
                greedy.append(tokens)
        json.dump(greedy, open(f"{a.out_prefix}_{name}.greedy.json", "w"))
    print(json.dumps({"model": a.model, "dtype": name, "prompts": len(prompts)}))
    del model
    torch.cuda.empty_cache()

for name in a.dtypes.split(","):
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    run(name, dtype)
