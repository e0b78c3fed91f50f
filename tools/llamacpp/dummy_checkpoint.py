#!/usr/bin/env python3
"""Writes a Hugging Face checkpoint directory with random bf16 weights of a config's shapes (Llama/Qwen2 families):
config.json as given, the tokenizer files of a tokenizer directory, and one model.safetensors. Standard library only,
so it runs where numpy does not. The benchmarks convert it to GGUF (make-dummy-ggufs.sh).
Usage: dummy_checkpoint.py CONFIG_DIR TOKENIZER_DIR OUT_DIR [SEED]"""
import json
import os
import random
import shutil
import struct
import sys


def tensors(config):
    """(name, shape, kind) of every tensor, kind 'weight' (random), 'norm' (ones) or 'bias' (random)."""
    h, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    head_dim = config.get("head_dim", h // heads)
    bias = config["model_type"] == "qwen2"
    yield "model.embed_tokens.weight", [vocab, h], "weight"
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", [h], "norm"
        for name, rows in (("q_proj", heads * head_dim), ("k_proj", kv_heads * head_dim), ("v_proj", kv_heads * head_dim)):
            yield p + f"self_attn.{name}.weight", [rows, h], "weight"
            if bias:
                yield p + f"self_attn.{name}.bias", [rows], "bias"
        yield p + "self_attn.o_proj.weight", [h, heads * head_dim], "weight"
        yield p + "post_attention_layernorm.weight", [h], "norm"
        yield p + "mlp.gate_proj.weight", [inter, h], "weight"
        yield p + "mlp.up_proj.weight", [inter, h], "weight"
        yield p + "mlp.down_proj.weight", [h, inter], "weight"
    yield "model.norm.weight", [h], "norm"
    if not config.get("tie_word_embeddings", False):
        yield "lm_head.weight", [vocab, h], "weight"


# bf16 high byte: the random sign bit kept, exponent bits 0x78 >> 1, so with the low byte's top bit as the exponent's
# last bit every value is ±[2^-7, 2^-5): the 0.02 scale of a real initialisation, no infinities or NaNs.
CHUNK = 1 << 26  # bytes per randbytes call (it takes a C int of bits)
HIGH = bytes((b & 0x80) | 0x3C for b in range(256))


def data(shape, kind, rng):
    n = 1
    for d in shape:
        n *= d
    if kind == "norm":
        return b"\x80\x3f" * n  # 1.0 in bf16, little-endian
    raw = bytearray()
    for start in range(0, 2 * n, CHUNK):
        raw += rng.randbytes(min(CHUNK, 2 * n - start))
    raw[1::2] = raw[1::2].translate(HIGH)
    return bytes(raw)


def main():
    config_dir, tokenizer_dir, out_dir = sys.argv[1:4]
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(config_dir, "config.json")) as f:
        config = json.load(f)
    shutil.copy(os.path.join(config_dir, "config.json"), out_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(tokenizer_dir, name)):
            shutil.copy(os.path.join(tokenizer_dir, name), out_dir)
    specs = list(tensors(config))
    header, offset = {}, 0
    for name, shape, _ in specs:
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape, kind in specs:
            f.write(data(shape, kind, rng))


if __name__ == "__main__":
    main()
