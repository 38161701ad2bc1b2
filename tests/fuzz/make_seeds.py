#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the test
data in tests/data and from small files built here. Standard library only; deterministic.

Usage: make_seeds.py [TESTS_DATA_DIR] [OUT_DIR]    (defaults: tests/data, tests/fuzz/corpus)
Each seed starts with the target's variant byte where the target has one (see the comment
at the top of each fuzz_<name>.cpp)."""
import json
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "data")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes."""
    header, blobs, off = {}, [], 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def npy(descr, shape, data, version=1):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % s for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    pre = 10 if version == 1 else 12
    h += " " * (-(pre + len(h) + 1) % 64) + "\n"
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h.encode() + data


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width, height, rows, color_type=0, depth=8, empty_idat_first=False):
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    chunks = png_chunk(b"IHDR", ihdr)
    if empty_idat_first:
        chunks += png_chunk(b"IDAT", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def bmp24(width, height, pixel, top_down=False):
    """pixel(x, y) -> (r, g, b), y = 0 at the top."""
    row_bytes = (width * 3 + 3) & ~3
    rows = []
    for y in range(height):
        r = b"".join(bytes(pixel(x, y)[::-1]) for x in range(width))
        rows.append(r + b"\x00" * (row_bytes - len(r)))
    if not top_down:
        rows.reverse()
    data = b"".join(rows)
    info = struct.pack("<IiiHHIIiiII", 40, width, -height if top_down else height, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(data), 0, 0, 54) + info + data


def main():
    # corpus/dicom holds DICOM files in every accepted transfer syntax, written by
    # build/tests/make_test_dicom (GDCM's encoders; tests/fuzz/corpus/dicom/README): kept.
    keep = os.path.join(OUT, "dicom")
    kept = {n: open(os.path.join(keep, n), "rb").read() for n in sorted(os.listdir(keep))} if os.path.isdir(keep) else {}
    shutil.rmtree(OUT, ignore_errors=True)
    for name, data in kept.items():
        put("dicom", name, data)
    golden = os.path.join(DATA, "golden")
    model = os.path.join(golden, "models", "merged_fp32")

    # safetensors: variant 0 = a file, 1 = an index over the target's two fixed shards.
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    put("safetensors", "f32_2x3", b"\x00" + safetensors([("w", "F32", [2, 3], f32)], {"format": "pt"}))
    put("safetensors", "mixed", b"\x00" + safetensors([
        ("a.weight", "BF16", [2, 2], b"\x80\x3f" * 4), ("b", "F16", [3], b"\x00\x3c" * 3),
        ("c", "I64", [1], struct.pack("<q", 7)), ("empty", "F32", [0, 4], b""), ("scalar", "F32", [], f32[:4])]))
    put("safetensors", "index_ok", b"\x01" + json.dumps({"metadata": {"total_size": 32}, "weight_map": {
        "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00001-of-00002.safetensors",
        "c.weight": "model-00002-of-00002.safetensors"}}).encode())
    put("safetensors", "index_partial", b"\x01" + json.dumps({"weight_map": {
        "a.weight": "model-00001-of-00002.safetensors"}}).encode())

    # configs: 0 config.json, 1 adapter_config.json, 2 preprocessor_config.json.
    for variant, folder, name in ((0, model, "config.json"), (1, os.path.join(golden, "models", "adapter"), "adapter_config.json"),
                                  (2, model, "preprocessor_config.json")):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                put("configs", name, bytes([variant]) + f.read())
    put("configs", "adapter_min.json", b"\x01" + json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
                                                                "target_modules": ["q_proj", "v_proj"]}).encode())

    # npy: small golden stage outputs and built ones.
    stages = os.path.join(golden, "merged_fp32", "stages")
    for name in sorted(os.listdir(stages))[:40]:
        path = os.path.join(stages, name)
        if name.endswith(".npy") and os.path.getsize(path) <= 4096:
            with open(path, "rb") as f:
                put("npy", name, f.read())
            if len(os.listdir(os.path.join(OUT, "npy"))) >= 6:
                break
    put("npy", "i8_3", npy("<i8", [3], struct.pack("<3q", 1, -2, 3)))
    put("npy", "u1_2x2_v2", npy("|u1", [2, 2], b"\x01\x02\x03\x04", version=2))
    put("npy", "f8_empty", npy("<f8", [0, 5], b""))

    # image: variant 0..2 = file bytes, 3 = raw pixels (width, height, stride, format).
    images = os.path.join(golden, "images")
    for name in sorted(os.listdir(images)):
        path = os.path.join(images, name)
        if os.path.getsize(path) <= 20000:
            with open(path, "rb") as f:
                put("image", name, b"\x00" + f.read())
    grad = lambda x, y: (x * 30 % 256, y * 60 % 256, (x + y) * 20 % 256)
    put("image", "bmp24_7x2_bottom_up.bmp", b"\x01" + bmp24(7, 2, grad))
    put("image", "bmp24_7x2_top_down.bmp", b"\x01" + bmp24(7, 2, grad, top_down=True))
    put("image", "png_gray_5x3_empty_idat.png", b"\x02" + png(5, 3, [bytes(range(y, y + 5)) for y in range(3)],
                                                               empty_idat_first=True))
    put("image", "png_rgb16_2x2.png", b"\x02" + png(2, 2, [b"\x12\x34" * 6] * 2, color_type=2, depth=16))
    raw = struct.pack(">IIIB", 4 + 2, 3 + 2, 4 * 2, 1) + bytes(range(24))  # gray16 4x3, stride 8
    put("image", "raw_gray16_4x3", b"\x03" + raw)
    put("image", "raw_rgb8_2x2", b"\x03" + struct.pack(">IIIB", 2 + 2, 2 + 2, 6, 2) + bytes(range(12)))

    # tokenizer_model: the tiny test model's tokenizer.
    with open(os.path.join(model, "tokenizer.model"), "rb") as f:
        put("tokenizer_model", "tiny_tokenizer.model", f.read())

    # tokenizer_codec: 0 text, 1 ids (uint16 LE), 2 prompts.
    with open(os.path.join(DATA, "mistral-tokenizer", "vectors.jsonl")) as f:
        vectors = [json.loads(line) for line in f if line.strip()]
    for i, v in enumerate(vectors[:: max(1, len(vectors) // 12)][:12]):
        put("tokenizer_codec", "text_%02d" % i, b"\x00" + v["text"].encode("utf-8", "surrogatepass"))
        put("tokenizer_codec", "ids_%02d" % i, b"\x01" + b"".join(struct.pack("<H", t % 65536) for t in v["ids_without_bos"]))
    cases_path = os.path.join(golden, "prompts", "cases.jsonl")
    if os.path.exists(cases_path):
        with open(cases_path) as f:
            cases = [json.loads(line) for line in f if line.strip()]
        for i, c in enumerate(cases[:: max(1, len(cases) // 6)][:6]):
            put("tokenizer_codec", "prompt_%02d" % i, b"\x02" + c["text"].encode()[:3000])

    # output_parsers: image width and height (big-endian uint32), then a model answer.
    parsing_path = os.path.join(golden, "prompts", "parsing.jsonl")
    with open(parsing_path) as f:
        outputs = [json.loads(line)["raw"] for line in f if line.strip()]
    for i, text in enumerate(outputs[:24]):
        put("output_parsers", "answer_%02d" % i, struct.pack(">II", 640 - 1, 480 - 1) + text.encode())
    # Answers in the exact formats of constrained decoding (tasks/answer_format.h).
    for i, text in enumerate(["Yes. [12,40,45,88], [60,35,90,85].", "Not present.", "cardiomegaly, edema.",
                              "Not found.", "[0,0,100,100]."]):
        put("output_parsers", "format_%02d" % i, struct.pack(">II", 2000, 2500) + text.encode())

    # report_documents: a report text, then finding labels, split at 0x1E.
    for i, parts in enumerate([["No acute cardiopulmonary process.", "Cardiomegaly", "Edema"],
                               ["Findings:\n\tSmall left effusion.\r\n", "pleural effusion"],
                               ["E~\x00 N\x1d en \u00a0\u3000 \u2713 \udcff".encode("utf-8", "surrogatepass").decode(
                                   "latin-1"), "", " "],
                               ["", "Support Devices", "Support devices"]]):
        put("report_documents", "report_%02d" % i, b"\x1e".join(p.encode("latin-1") if i == 2 else p.encode()
                                                                 for p in parts))


if __name__ == "__main__":
    main()
