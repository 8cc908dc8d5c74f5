"""Thread choice on a busy machine: the demo model's `chat()` and a training step of 16, quiet and
with one core held by another process, with the thread count medmllm chooses (`medmllm/threads.py`)
against torch's default (one thread per core, fixed with MEDMLLM_THREADS).

    .venv/bin/python benchmarks/threads.py [--reps 3]

Each figure is measured in a fresh process (the thread pool is per process), the configurations
interleaved, `--reps` times; the median is reported, with the range. The busy core is another
process multiplying 256 x 256 matrices on one thread. Untrained demo-size weights (timing does not
depend on training), MedSynth x-ray questions.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, torch
from pathlib import Path
from medmllm.build import build_model
from medmllm.config import ModelConfig, from_dict, load_config
from medmllm.data.collate import collate
from medmllm.data.manifest import ManifestDataset
from medmllm.engine import Engine
data = Path(sys.argv[1])
cfg = load_config("medmllm/configs/demo_align.yaml", [])
model, processor = build_model(cfg.model, [l for l in open(data / "xray_vqa_train.jsonl")])
engine = Engine(model, processor)
recs = [json.loads(l) for l in (data / "xray_vqa_test.jsonl").read_text().splitlines()][:40]
for r in recs[:3]:
    engine.chat("Is there an effusion?", image=data / r["image"], max_new_tokens=8)
t = time.perf_counter()
for r in recs:
    engine.chat(r["conversations"][0]["value"].split("\n", 1)[1], image=data / r["image"], max_new_tokens=8)
chat_ms = (time.perf_counter() - t) / len(recs) * 1000
threads_chat = torch.get_num_threads()
from medmllm.threads import adjust
model.train()
ds = ManifestDataset([data / "xray_vqa_train.jsonl"], processor, max_length=384)
batch = collate([ds[i] for i in range(16)], processor.tokenizer.pad_token_id)
opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
def step():
    adjust()
    model(**batch).loss.backward(); opt.step(); opt.zero_grad()
for _ in range(2):
    step()
t = time.perf_counter()
for _ in range(6):
    step()
print(json.dumps({"chat_ms": chat_ms, "step_ms": (time.perf_counter() - t) / 6 * 1000,
                  "threads_chat": threads_chat, "threads_step": torch.get_num_threads()}))
"""
HOG = "import torch\ntorch.set_num_threads(1)\na = torch.randn(256, 256)\nwhile True:\n    a @ a"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from medmllm.synth import synthesize

    data = Path(tempfile.mkdtemp(prefix="medmllm-threads-"))
    synthesize(data, ["xray"], n=60, seed=5)
    configs = {"chosen": {}, "torch default": {"MEDMLLM_THREADS": str(os.cpu_count())}}
    runs: dict = {}
    for _ in range(args.reps):
        for busy in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", HOG]) if busy else None
            time.sleep(1.0)
            for name, env in configs.items():
                env = {**{k: v for k, v in os.environ.items() if k not in ("MEDMLLM_THREADS", "OMP_NUM_THREADS")}, **env}
                out = subprocess.run([sys.executable, "-c", CHILD, str(data)], env=env, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(out.stderr[-2000:])
                runs.setdefault((name, busy), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
            if hog:
                hog.kill()
    table = {}
    for (name, busy), xs in runs.items():
        table[f"{name}, {'busy' if busy else 'quiet'}"] = {
            k: {"median": round(statistics.median(x[k] for x in xs), 1), "min": round(min(x[k] for x in xs), 1),
                "max": round(max(x[k] for x in xs), 1)} for k in xs[0]}
    for name in configs:
        for k in ("chat_ms", "step_ms"):
            table[f"{name}: busy / quiet {k}"] = round(table[f"{name}, busy"][k]["median"]
                                                       / table[f"{name}, quiet"][k]["median"], 2)
    print(json.dumps({"cores": os.cpu_count(), **table}, indent=1))


if __name__ == "__main__":
    main()
