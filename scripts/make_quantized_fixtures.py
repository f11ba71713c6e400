#!/usr/bin/env python3
"""Make the quantized random-weight Llama fixtures under Tests/Fixtures/quantized/.

Each folder holds a small Llama checkpoint (config.json with quantization_config,
model.safetensors) in one published layout, and the reference of Hugging Face transformers run
in float32 on the checkpoint *dequantized* (the weights exactly as the quantized tensors decode):

  reference.json                 prompt_ids, greedy_ids (full forwards, argmax, no EOS), format
  reference_logits.safetensors   "logits": float32 [prompt, vocab]

Layouts (written from the published formats; the packers are checked against a second unpacker):
  gptq-int4-actorder   GPTQ v1 4-bit, group 32, desc_act with shuffled g_idx, symmetric (zeros 8
                       stored as 7), qweight [in/8, out] packed along the input, fp16 scales
  gptq-int8-channel    GPTQ v1 8-bit, group -1 (per channel), asymmetric zero points
  gptq-int4-lm-head    GPTQ v1 4-bit, group 32, asymmetric, `lm_head: true` (GPTQModel's
                       lm_head=True): the untied LM head quantized like the other layers
  awq-int4             AutoAWQ GEMM 4-bit, group 32, qweight [in, out/8] in nibble order 0 2 4 6 1 3 5 7
  ct-int4-group        compressed-tensors pack-quantized int4, group 32, packed by the
                       compressed-tensors package's own pack_to_int32
  ct-fp8-channel       compressed-tensors float-quantized FP8 e4m3, per-channel weight_scale [out, 1]
  fp8-block            quant_method fp8, weight_block_size [128, 128], weight_scale_inv (DeepSeek-V3 layout)
  online-fp8           a float32 checkpoint; the reference quantizes it as `--quantization fp8`
                       does (per output row, largest magnitude to 448, torch's e4m3 cast)
  squeezellm           SqueezeLLM 4-bit (dense-only): quant_config.json {"wbits": 4} instead of a
                       quantization_config; qweight [in/8, out] int32 of indices packed along the
                       input low bits first (as vLLM's former squeezellm.py / NUQ4MatMulKernel read
                       them), lookup_table [out, 16] fp16, w[n, k] = lookup_table[n, q[n, k]]

Shape: hidden 96 (3 groups of 32), intermediate 160 (5 groups of 32; 2 FP8 blocks of 128, the
second partial), 4 heads of 24, 2 KV heads, 2 layers, vocabulary 256, tied embeddings (untied
where the LM head is quantized).
Deterministic (fixed seeds), CPU only. Needs torch, transformers, safetensors, numpy,
compressed-tensors (pip install compressed-tensors).

--tensor-parallel makes, under Tests/Fixtures/quantized-tp/, the layouts whose groups of 32 or
128-wide FP8 blocks cannot split the shape above over 2 ranks (48 and 80 inputs per rank) in a
shape that they can split over 2 and 4: hidden 128 (4 heads of 32), intermediate 256.
Usage:  python3 scripts/make_quantized_fixtures.py [--out Tests/Fixtures/quantized]
        python3 scripts/make_quantized_fixtures.py --tensor-parallel [--out Tests/Fixtures/quantized-tp]
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

PROMPT_LEN, GREEDY_LEN = 24, 16
MIN_MARGIN = 0.02
CONFIG = dict(vocab_size=256, hidden_size=96, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, rms_norm_eps=1e-5, max_position_embeddings=512, tie_word_embeddings=True,
              rope_theta=10000.0, hidden_act="silu", bos_token_id=1, eos_token_id=2)
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # nibble i of a word holds column 8c + AWQ_ORDER[i]


def pack_words(values, bits, axis):
    """Packs unsigned `bits`-bit integers along `axis`, low bits first, into int32 words."""
    per = 32 // bits
    v = np.moveaxis(values.astype(np.uint32), axis, 0)
    words = np.zeros((v.shape[0] // per,) + v.shape[1:], dtype=np.uint32)
    for i in range(per):
        words |= v[i::per] << np.uint32(bits * i)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(words, 0, axis)).view(np.int32))


def unpack_words(words, bits, axis):
    """A second unpacker (shift table, torch), to check `pack_words`."""
    per = 32 // bits
    w = words.to(torch.int64) & 0xFFFFFFFF
    shifts = torch.arange(per) * bits
    w = w.movedim(axis, -1).unsqueeze(-1) >> shifts
    return ((w & ((1 << bits) - 1)).flatten(-2)).movedim(-1, axis)


def quantize_groups(w, bits, group_of_input, groups, symmetric):
    """Per (output row, group) scale and zero point; q = clamp(round(w / s) + z)."""
    maxq = (1 << bits) - 1
    out = w.shape[0]
    scales = torch.zeros(groups, out)
    zeros = torch.zeros(groups, out, dtype=torch.int64)
    q = torch.zeros_like(w, dtype=torch.int64)
    for g in range(groups):
        cols = (group_of_input == g).nonzero().flatten()
        block = w[:, cols]
        if symmetric:
            s = block.abs().amax(1) / (maxq // 2)
            z = torch.full((out,), (maxq + 1) // 2)
        else:
            lo, hi = block.amin(1).clamp(max=0), block.amax(1).clamp(min=0)
            s = (hi - lo) / maxq
            z = torch.round(-lo / s).long().clamp(1, maxq)  # v1 GPTQ stores z - 1
        s = s.half().float()  # checkpoints store fp16 scales
        q[:, cols] = torch.clamp(torch.round(block / s[:, None]).long() + z[:, None], 0, maxq)
        scales[g], zeros[g] = s, z
    w_hat = (q.float() - zeros[group_of_input].T.float()) * scales[group_of_input].T
    return q, scales, zeros, w_hat


def gptq(w, bits, group, act_order, rng):
    out, k = w.shape
    group = group if group > 0 else k
    g_idx = torch.arange(k) // group
    if act_order:
        perm = torch.from_numpy(rng.permutation(k))
        g_idx = torch.empty(k, dtype=torch.long)
        g_idx[perm] = torch.arange(k) // group
    q, scales, zeros, w_hat = quantize_groups(w, bits, g_idx, k // group, symmetric=act_order)
    qweight = pack_words(q.T.numpy(), bits, 0)
    qzeros = pack_words((zeros - 1).numpy(), bits, 1)  # v1 checkpoints store zero - 1
    assert torch.equal(unpack_words(qweight, bits, 0), q.T) and torch.equal(unpack_words(qzeros, bits, 1) + 1, zeros)
    return {"qweight": qweight, "qzeros": qzeros, "scales": scales.half(), "g_idx": g_idx.int()}, w_hat


def awq_interleave(values):
    """Columns reordered so that plain low-first packing puts column 8c + AWQ_ORDER[i] in nibble i."""
    n = values.shape[1]
    index = [8 * (c // 8) + AWQ_ORDER[c % 8] for c in range(n)]
    return values[:, index]


def awq(w, group):
    out, k = w.shape
    g_idx = torch.arange(k) // group
    q, scales, zeros, w_hat = quantize_groups(w, 4, g_idx, k // group, symmetric=False)
    qweight = pack_words(awq_interleave(q.T.numpy()), 4, 1)
    qzeros = pack_words(awq_interleave(zeros.numpy()), 4, 1)
    # Second unpacker: AutoAWQ's reverse order on the nibbles.
    reverse = [AWQ_ORDER.index(j) for j in range(8)]
    nib = unpack_words(qweight, 4, 1).reshape(k, out // 8, 8)[:, :, reverse].reshape(k, out)
    assert torch.equal(nib, q.T)
    return {"qweight": qweight, "qzeros": qzeros, "scales": scales.half()}, w_hat


def ct_int4(w, group):
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32
    out, k = w.shape
    g_idx = torch.arange(k) // group
    q, scales, zeros, w_hat = quantize_groups(w, 4, g_idx, k // group, symmetric=True)
    signed = (q - 8).to(torch.int8)
    packed = pack_to_int32(signed, 4)
    assert torch.equal(unpack_from_int32(packed, 4, torch.Size([out, k])), signed)
    scales_bf16 = scales.T.contiguous().bfloat16()
    w_hat = (q.float() - 8) * scales_bf16.float()[:, g_idx]
    return {"weight_packed": packed, "weight_scale": scales_bf16,
            "weight_shape": torch.tensor([out, k], dtype=torch.int64)}, w_hat


def fp8_rows(w, scale):
    """e4m3 codes of w / scale (torch's saturating cast) and their dequantized values."""
    codes = (w / scale).clamp(-448, 448).to(torch.float8_e4m3fn)
    return codes, codes.float() * scale


def fp8_channel(w):
    scale = (w.abs().amax(1, keepdim=True) / 448).float()
    codes, w_hat = fp8_rows(w, scale)
    return {"weight": codes, "weight_scale": scale}, w_hat


def squeezellm(w):
    """SqueezeLLM's layout: per output row 16 table values (here the row's quantiles, stored fp16; SqueezeLLM
    itself clusters with sensitivity weights) and each weight's index of the nearest value."""
    table = torch.quantile(w, torch.linspace(0.02, 0.98, 16), dim=1).T.contiguous().half()
    values = table.float()
    q = (w[:, :, None] - values[:, None, :]).abs().argmin(-1)
    qweight = pack_words(q.T.numpy(), 4, 0)
    assert torch.equal(unpack_words(qweight, 4, 0), q.T)
    # Second reader, as the CUDA kernel indexed it: word (i, n), nibble j is input 8i + j of output n.
    words = qweight.numpy().view(np.uint32)
    i, j, n = 5, 3, 7
    assert (words[i, n] >> (4 * j)) & 0xF == q[n, 8 * i + j]
    return {"qweight": qweight, "lookup_table": table}, torch.gather(values, 1, q)


def fp8_block(w, block=128):
    out, k = w.shape
    rb, cb = math.ceil(out / block), math.ceil(k / block)
    scale = torch.zeros(rb, cb)
    for i in range(rb):
        for j in range(cb):
            scale[i, j] = w[i * block:(i + 1) * block, j * block:(j + 1) * block].abs().amax() / 448
    full = scale.repeat_interleave(block, 0)[:out].repeat_interleave(block, 1)[:, :k]
    codes, w_hat = fp8_rows(w, full)
    return {"weight": codes, "weight_scale_inv": scale}, w_hat


FORMATS = {
    "gptq-int4-actorder": (lambda w, rng: gptq(w, 4, 32, True, rng),
                           dict(quant_method="gptq", bits=4, group_size=32, desc_act=True, sym=True,
                                checkpoint_format="gptq")),
    "gptq-int8-channel": (lambda w, rng: gptq(w, 8, -1, False, rng),
                          dict(quant_method="gptq", bits=8, group_size=-1, desc_act=False, sym=False,
                               checkpoint_format="gptq")),
    "awq-int4": (lambda w, rng: awq(w, 32),
                 dict(quant_method="awq", bits=4, group_size=32, zero_point=True, version="gemm")),
    "ct-int4-group": (lambda w, rng: ct_int4(w, 32),
                      dict(quant_method="compressed-tensors", format="pack-quantized", ignore=["lm_head"],
                           config_groups={"group_0": {"targets": ["Linear"], "weights": {
                               "num_bits": 4, "type": "int", "strategy": "group", "group_size": 32,
                               "symmetric": True}}})),
    "ct-fp8-channel": (lambda w, rng: fp8_channel(w),
                       dict(quant_method="compressed-tensors", format="float-quantized", ignore=["lm_head"],
                            config_groups={"group_0": {"targets": ["Linear"], "weights": {
                                "num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True},
                                "input_activations": {"num_bits": 8, "type": "float", "strategy": "token",
                                                      "dynamic": True}}})),
    "fp8-block": (lambda w, rng: fp8_block(w),
                  dict(quant_method="fp8", fmt="e4m3", activation_scheme="dynamic", weight_block_size=[128, 128])),
    "online-fp8": (None, None),
    "squeezellm": (lambda w, rng: squeezellm(w), dict(quant_method="squeezellm", wbits=4)),
    # Last, so that the seeds of the fixtures above (from their index) stay as they were.
    "gptq-int4-lm-head": (lambda w, rng: gptq(w, 4, 32, False, rng),
                          dict(quant_method="gptq", bits=4, group_size=32, desc_act=False, sym=False,
                               checkpoint_format="gptq", lm_head=True)),
}
# The layouts that need the --tensor-parallel shape to split, and that shape.
TENSOR_PARALLEL = ["gptq-int4-actorder", "awq-int4", "ct-int4-group", "fp8-block"]
TENSOR_PARALLEL_SHAPE = dict(hidden_size=128, intermediate_size=256)
# Formats that quantize the LM head too, which needs it untied from the embeddings.
QUANTIZED_HEAD = ["gptq-int4-lm-head"]
# Formats whose folder keeps the quantization in quant_config.json instead of config.json.
QUANT_CONFIG_FILE = {"squeezellm": {"wbits": 4}}


def full_logits(model, ids):
    return model(torch.tensor([ids])).logits[0].float()


def greedy(model, prompt, n):
    ids, out, margin = list(prompt), [], math.inf
    for _ in range(n):
        top = torch.topk(full_logits(model, ids)[-1], 2)
        margin = min(margin, float(top.values[0] - top.values[1]))
        ids.append(int(top.indices[0]))
        out.append(ids[-1])
    return out, margin


def make(name, out_root, seed):
    quantize, qconfig = FORMATS[name]
    shape = dict(CONFIG, tie_word_embeddings=name not in QUANTIZED_HEAD)
    linears = [f"model.layers.{layer}.{linear}" for layer in range(CONFIG["num_hidden_layers"]) for linear in LINEARS]
    if name in QUANTIZED_HEAD:
        linears.append("lm_head")
    while True:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = LlamaForCausalLM(LlamaConfig(**shape)).float().eval()
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 2:
                    p.normal_(0, 0.2)
        tensors = {k: v.clone().contiguous() for k, v in model.state_dict().items()
                   if k != "lm_head.weight" or not shape["tie_word_embeddings"]}
        with torch.no_grad():
            for prefix in linears:
                w = tensors[prefix + ".weight"]
                if quantize is None:  # a bfloat16 checkpoint, quantized at load
                    tensors[prefix + ".weight"] = w.bfloat16()
                    _, w_hat = fp8_channel(w.bfloat16().float())
                else:
                    stored, w_hat = quantize(w, rng)
                    del tensors[prefix + ".weight"]
                    tensors.update({f"{prefix}.{k}": v.contiguous() for k, v in stored.items()})
                model.get_parameter(prefix + ".weight").copy_(w_hat)
            prompt = torch.randint(3, CONFIG["vocab_size"], (PROMPT_LEN,), generator=torch.Generator().manual_seed(seed)).tolist()
            ids, margin = greedy(model, prompt, GREEDY_LEN)
            if margin >= MIN_MARGIN and 2 not in ids:
                break
        seed += 1
    folder = os.path.join(out_root, name)
    os.makedirs(folder, exist_ok=True)
    config = dict(shape, architectures=["LlamaForCausalLM"], model_type="llama", torch_dtype="float32")
    if name in QUANT_CONFIG_FILE:
        with open(os.path.join(folder, "quant_config.json"), "w") as f:
            json.dump(QUANT_CONFIG_FILE[name], f, indent=2)
    elif qconfig:
        config["quantization_config"] = qconfig
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_file(tensors, os.path.join(folder, "model.safetensors"))
    with torch.no_grad():
        logits = full_logits(model, prompt)
    save_file({"logits": logits.contiguous()}, os.path.join(folder, "reference_logits.safetensors"))
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump({"prompt_ids": prompt, "greedy_ids": ids, "format": name, "seed": seed, "min_margin": margin,
                   "quantization": "--quantization fp8 (per-channel, at load)" if quantize is None else qconfig["quant_method"],
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}, f, indent=1)
    size = sum(os.path.getsize(os.path.join(folder, x)) for x in os.listdir(folder))
    print(f"{name}: seed {seed}, margin {margin:.3f}, {size // 1024} KiB")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    parser.add_argument("--only", help="comma-separated fixture names")
    parser.add_argument("--tensor-parallel", action="store_true", help="the shape that splits over 2 and 4 ranks")
    args = parser.parse_args()
    if args.tensor_parallel:
        CONFIG.update(TENSOR_PARALLEL_SHAPE)
    out = args.out or ("Tests/Fixtures/quantized-tp" if args.tensor_parallel else "Tests/Fixtures/quantized")
    for i, name in enumerate(FORMATS):
        if args.tensor_parallel and name not in TENSOR_PARALLEL:
            continue
        if not args.only or name in args.only.split(","):
            make(name, out, 100 * (i + 1))


if __name__ == "__main__":
    main()
