# Grows the 1-decoder-layer random checkpoint that `m4cxr_bench --layers 1 --keep SRC` writes into
# an N-layer one (new layers random, made on the GPU: the full 32-layer M4CXR shape, 14.7 GB, in
# about half a minute instead of many minutes of CPU randn). Used by scripts/cuda_check.sh.
# Usage: python3 scripts/grow_checkpoint.py SRC DST N   (needs torch with CUDA and safetensors)
import json, os, re, shutil, sys, time, torch
from safetensors.torch import load_file, save_file
src, dst, L = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.time()
os.makedirs(dst, exist_ok=True)
for f in os.listdir(src):
    if f not in ("model.safetensors", "config.json"):
        shutil.copy(os.path.join(src, f), dst)
cfg = json.load(open(os.path.join(src, "config.json")))
cfg["text_config"]["num_hidden_layers"] = L
json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)
sd = load_file(os.path.join(src, "model.safetensors"))
out = {}
g = torch.Generator(device="cuda").manual_seed(1)
pat = re.compile(r"^(language_model\.model\.layers\.)0\.(.*)$")
for k, v in sd.items():
    out[k] = v
    m = pat.match(k)
    if not m:
        continue
    for i in range(1, L):
        nk = f"{m.group(1)}{i}.{m.group(2)}"
        if "norm" in k:
            out[nk] = torch.ones_like(v)
        else:
            out[nk] = (torch.randn(v.shape, generator=g, device="cuda", dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()
save_file(out, os.path.join(dst, "model.safetensors"))
print(f"grew to {L} layers: {len(out)} tensors, {sum(t.numel() for t in out.values())/1e9:.2f} G params, {time.time()-t0:.0f} s")
