"""Memory and speed of `medmllm data validate` (and of building a training dataset) as a manifest grows.

Writes manifests of 10k, 50k and 200k records over 2,000 small PNGs, then runs each measurement
in a fresh process and reports its peak RSS (ru_maxrss) and wall time. Usage:

    .venv/bin/python benchmarks/validate_streaming.py [--out /tmp/validate-bench] [--sizes 10000,50000,200000]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, manifest = sys.argv[1], Path(sys.argv[2])
t = time.perf_counter()
if mode == "validate":
    import io as _io
    from medmllm.data.validate import validate
    stats = validate([manifest], decode=True, out=_io.StringIO())
    n = stats["records"]
else:
    from tiny_processor import processor
    from medmllm.data.manifest import ManifestDataset
    n = len(ManifestDataset([manifest], processor(), max_length=256))
print(json.dumps({"n": n, "seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PROCESSOR = r"""
def processor():
    from medmllm.data.processor import MedMLLMProcessor, ProcessorSettings
    from medmllm.data.tokenizer import train_tokenizer
    tok = train_tokenizer(["Is there an effusion? yes no"] * 10, vocab_size=300)
    return MedMLLMProcessor(tok, ProcessorSettings(num_tokens={"image": 4}, image_size=32, image_channels=1))
"""


def write_data(out: Path, sizes: list[int], images: int = 2000) -> dict[int, Path]:
    from PIL import Image

    (out / "img").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        p = out / "img" / f"{i:05d}.png"
        if not p.exists():
            Image.new("L", (64, 64), i % 256).save(p)
    paths = {}
    for n in sizes:
        path = out / f"m{n}.jsonl"
        if not path.exists():
            with open(path, "w") as f:
                for i in range(n):
                    f.write(json.dumps({"id": f"r{i}", "image": f"img/{i % images:05d}.png", "conversations": [
                        {"from": "human", "value": f"<image>\nIs there an effusion? (case {i})"},
                        {"from": "gpt", "value": "yes" if i % 2 else "no"}], "meta": {"split": "train"}}) + "\n")
        paths[n] = path
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/validate-bench"))
    ap.add_argument("--sizes", default="10000,50000,200000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = write_data(args.out, sizes)
    (args.out / "tiny_processor.py").write_text(PROCESSOR)
    print("| records | validate (decode) s | validate peak RSS MB | dataset build s | dataset peak RSS MB |")
    print("|---|---|---|---|---|")
    for n in sizes:
        row = {}
        for mode in ("validate", "dataset"):
            proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(paths[n])], capture_output=True, text=True,
                                  cwd=args.out, env={"PYTHONPATH": str(args.out), "PATH": "/usr/bin:/bin"})
            if proc.returncode:
                sys.exit(proc.stderr)
            row[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        v, d = row["validate"], row["dataset"]
        print(f"| {n:,} | {v['seconds']:.1f} | {v['peak_rss_mb']:.0f} | {d['seconds']:.1f} | {d['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
