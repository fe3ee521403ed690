#!/usr/bin/python3
"""tests/oracle_peft.py — independent check of qpeft's exports (run by tests/test_export.c).

usage: oracle_peft.py TAG PEFT_DIR BASE_DIR MERGED_DIR

Parses every safetensors file with its own reader (struct + json + numpy, no safetensors,
peft or transformers packages): 8-byte little-endian header length, JSON header, names sorted,
data_offsets contiguous from 0 in name order and ending at the end of the file, dtype sizes,
header padded with spaces to a multiple of 8. Then applies PEFT's LoRA merge in float64 —
W' = W + (lora_alpha / r) · B · A for every target in adapter_config.json, by the Hugging Face
names — to BASE_DIR's weights and compares with the merged model qpeft wrote to MERGED_DIR.
Prints one PASS/FAIL line per check; exits 1 on any FAIL.
"""
import json
import os
import struct
import sys

import numpy as np

TAG, PEFT, BASE, MERGED = sys.argv[1:5]
failed = 0


def check(ok, msg):
    global failed
    print(("PASS " if ok else "FAIL ") + TAG + ": " + msg, flush=True)
    if not ok:
        failed += 1


DT = {"F32": (4, "<f4"), "F16": (2, "<f2"), "BF16": (2, None)}


def read_safetensors(path):
    """Returns {name: float64 array}, after validating the file layout."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr_bytes = raw[8:8 + n]
    problems = []
    if n % 8:
        problems.append("header length %d not a multiple of 8" % n)
    text = hdr_bytes.decode("utf-8")
    if not text.rstrip(" ").endswith("}"):
        problems.append("header is not a JSON object followed by space padding")
    hdr = json.loads(text)
    meta = hdr.pop("__metadata__", None)
    if meta is not None and not isinstance(meta, dict):
        problems.append("__metadata__ not an object")
    names = list(hdr.keys())
    if names != sorted(names):
        problems.append("names not sorted")
    data = raw[8 + n:]
    out = {}
    pos = 0
    for name in names:
        e = hdr[name]
        if e["dtype"] not in DT:
            problems.append("%s dtype %s" % (name, e["dtype"]))
            continue
        size, npdt = DT[e["dtype"]]
        b, end = e["data_offsets"]
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        if b != pos:
            problems.append("%s starts at %d, expected %d" % (name, b, pos))
        if end - b != count * size:
            problems.append("%s has %d bytes for shape %s" % (name, end - b, e["shape"]))
        pos = end
        buf = data[b:end]
        if npdt:
            arr = np.frombuffer(buf, dtype=npdt).astype(np.float64)
        else:  # bf16: the high half of a float32
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        out[name] = arr.reshape(e["shape"])
    if pos != len(data):
        problems.append("data buffer %d bytes, tensors cover %d" % (len(data), pos))
    check(not problems, "safetensors layout of %s (%d tensors, header %d bytes) %s"
          % (os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path), len(names), n, "; ".join(problems)))
    return out, {k: hdr[k]["dtype"] for k in names}


cfg = json.load(open(os.path.join(PEFT, "adapter_config.json")))
ok = (cfg["peft_type"] == "LORA" and cfg["bias"] == "none" and isinstance(cfg["r"], int) and cfg["r"] > 0
      and cfg["task_type"] in ("CAUSAL_LM", "SEQ_CLS") and isinstance(cfg["target_modules"], list)
      and (cfg["modules_to_save"] is None) == (cfg["task_type"] == "CAUSAL_LM"))
check(ok, "adapter_config.json: peft_type %s r %s lora_alpha %s task %s targets %s modules_to_save %s"
      % (cfg["peft_type"], cfg["r"], cfg["lora_alpha"], cfg["task_type"], ",".join(cfg["target_modules"]), cfg["modules_to_save"]))
ad, ad_dt = read_safetensors(os.path.join(PEFT, "adapter_model.safetensors"))
base, _ = read_safetensors(os.path.join(BASE, "model.safetensors"))
merged, _ = read_safetensors(os.path.join(MERGED, "model.safetensors"))
bcfg = json.load(open(os.path.join(BASE, "config.json")))
L = bcfg["num_hidden_layers"]
r, scale = cfg["r"], cfg["lora_alpha"] / cfg["r"]

# PEFT's merge, in float64, by HF names.
expect = dict(base)
worst, worst_name, used = 0.0, "", set()
shape_ok = True
for i in range(L):
    for mod in cfg["target_modules"]:
        grp = "self_attn" if mod in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
        stem = "base_model.model.model.layers.%d.%s.%s" % (i, grp, mod)
        A, B = ad[stem + ".lora_A.weight"], ad[stem + ".lora_B.weight"]
        used |= {stem + ".lora_A.weight", stem + ".lora_B.weight"}
        wname = "model.layers.%d.%s.%s.weight" % (i, grp, mod)
        W = base[wname]
        shape_ok &= A.shape == (r, W.shape[1]) and B.shape == (W.shape[0], r)
        expect[wname] = W + scale * (B @ A)
check(shape_ok, "lora_A (r x in) and lora_B (out x r) shapes for %d layers x %d targets" % (L, len(cfg["target_modules"])))
if cfg["task_type"] == "SEQ_CLS":
    h1 = ad.get("base_model.model.score.modules_to_save.default.weight")
    h2 = ad.get("base_model.model.score.weight")
    used |= {"base_model.model.score.modules_to_save.default.weight", "base_model.model.score.weight"}
    check(h1 is not None and h2 is not None and np.array_equal(h1, merged["score.weight"]) and np.array_equal(h2, h1),
          "head as score.modules_to_save.default.weight (and score.weight) equals the merged model's score.weight")
    expect["score.weight"] = h1
check(set(ad) == used, "adapter file holds exactly the LoRA tensors%s (%d)" % (" and the head" if cfg["modules_to_save"] else "", len(ad)))
check(all(v == "F32" for v in ad_dt.values()), "adapter tensors are F32")
check(set(expect) == set(merged), "merged model has the base's tensor names (%d)" % len(merged))
for name in sorted(set(expect) & set(merged)):
    d = np.abs(expect[name] - merged[name])
    tol = 1e-6 + 1e-5 * np.abs(expect[name])
    excess = float(np.max(d - tol))
    if excess > worst or not worst_name:
        worst, worst_name = excess, name
        worst_abs = float(np.max(d))
check(worst <= 0, "PEFT float64 merge W + (lora_alpha/r)*B*A vs qpeft's merged export: worst max|diff| %.3g in %s "
      "(atol 1e-6 + rtol 1e-5)" % (worst_abs, worst_name))
# The q/k permutation is really exercised: without permuting B the merge would differ.
q = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
if q in ad:
    hs = bcfg["hidden_size"] // bcfg["num_attention_heads"]
    Bq = ad[q].reshape(bcfg["num_attention_heads"], hs, r)
    inter = np.concatenate([Bq[:, : hs // 2], Bq[:, hs // 2:]], axis=2).reshape(-1, r)  # rows (h, 2i+p) order
    check(not np.allclose(inter, ad[q]), "q_proj lora_B rows are not in the interleaved order (permutation exercised)")
sys.exit(1 if failed else 0)
