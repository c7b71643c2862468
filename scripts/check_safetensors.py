"""Loads a model file written by `overtrain train` with Python's safetensors package and
checks the documented tensor names and shapes against the model config in its metadata.
usage: python3 scripts/check_safetensors.py DIR/model.safetensors
Prints one line per tensor; exits non-zero on any mismatch."""
import json
import sys

from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()
cfg = json.loads(meta["overtrain_model"])
d, f_, L, V = cfg["d_model"], cfg["d_ff"], cfg["n_layer"], 256
expected = {"wte": (V, d)}
if cfg["pos"] == "learned":
    expected["wpe"] = (cfg["ctx"], d)
norm_b = cfg["norm"] == "layernorm"
fc = 2 * f_ if cfg["mlp"] == "swiglu" else f_
for i in range(L):
    expected[f"h.{i}.ln1.g"] = (d,)
    expected[f"h.{i}.ln2.g"] = (d,)
    if norm_b:
        expected[f"h.{i}.ln1.b"] = (d,)
        expected[f"h.{i}.ln2.b"] = (d,)
    expected[f"h.{i}.attn.qkv"] = (d, 3 * d)
    expected[f"h.{i}.attn.proj"] = (d, d)
    expected[f"h.{i}.mlp.fc"] = (d, fc)
    expected[f"h.{i}.mlp.proj"] = (f_, d)
expected["lnf.g"] = (d,)
if norm_b:
    expected["lnf.b"] = (d,)
if not cfg["tie_embeddings"]:
    expected["lm_head"] = (d, V)
tensors = load_file(path)
assert set(tensors) == set(expected), f"names differ: {sorted(set(tensors) ^ set(expected))}"
for name, shape in sorted(expected.items()):
    t = tensors[name]
    assert t.dtype.name == "float32" and t.shape == shape, f"{name}: {t.dtype} {t.shape}, expected float32 {shape}"
    print(name, t.shape)
print(f"ok: {len(tensors)} tensors, {sum(t.size for t in tensors.values())} parameters")
