#!/usr/bin/env python3
"""Random-weight models at real shapes (few layers) for the GPU checks: transformers' own init, on
the GPU, saved with save_pretrained in the config's dtype."""
import argparse, json, os
import torch
from transformers import AutoConfig, AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--dtype", default="bfloat16")
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
cfg = AutoConfig.from_pretrained(os.path.dirname(a.config) if a.config.endswith(".json") else a.config)
cfg.num_hidden_layers = a.layers
if hasattr(cfg, "layer_types") and cfg.layer_types is not None:
    cfg.layer_types = cfg.layer_types[: a.layers]
torch.manual_seed(a.seed)
dtype = getattr(torch, a.dtype)
with torch.device("cuda"):
    model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
# Larger than the default init (0.02) so that logits are not near-ties and greedy tokens mean something.
with torch.no_grad():
    for name, p in model.named_parameters():
        if not name.endswith("norm.weight"):
            p.normal_(0, 0.05)
        else:
            p.copy_(1 + 0.1 * torch.randn_like(p))
model.save_pretrained(a.out)
print(json.dumps({"out": a.out, "layers": a.layers, "dtype": a.dtype}))
