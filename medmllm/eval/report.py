"""What an evaluation writes (results.json, results.md, predictions.jsonl, per-category plots)
and `medmllm eval compare`."""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from ..files import atomic_path, atomic_write

REFERENCE_LIBRARIES = ("torch", "transformers", "pycocoevalcap", "rouge-score", "sacrebleu", "nltk")


def library_versions(names: tuple[str, ...] = REFERENCE_LIBRARIES) -> dict[str, str]:
    """Installed versions of the libraries whose behaviour the scores depend on (absent ones left out)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_reports(results: dict, predictions: list[dict], out_dir: Path) -> None:
    atomic_write(out_dir / "results.json", json.dumps(results, indent=2))
    atomic_write(out_dir / "results.md", markdown(results))
    atomic_write(out_dir / "predictions.jsonl", "".join(json.dumps(p, default=str) + "\n" for p in predictions))
    plot_categories(results, out_dir / "by_category.png")


def markdown(results: dict) -> str:
    """One row per task and metric, real vs blank input, then each metric's convention."""
    lines = [f"Model: `{results['model']}` ({results['backend']}), seed {results['seed']}, medmllm {results['medmllm']}",
             "", "| task | split | n | metric | score | blank input | drop |", "|---|---|---|---|---|---|---|"]
    conventions: dict[str, str] = {}
    for task, entry in results["tasks"].items():
        for name, value in entry["scores"].items():
            if name.startswith("n_"):
                continue
            b = entry.get("blank_scores", {}).get(name)
            drop = f"{value - b:+.3f}" if b is not None else ""
            lines.append(f"| {task} | {entry['split']} | {entry['n']} | {name} | {value:.3f} | "
                         f"{'' if b is None else f'{b:.3f}'} | {drop} |")
        for name, why in entry.get("unavailable", {}).items():
            lines.append(f"| {task} | {entry['split']} | {entry['n']} | {name} | unavailable | | |")
            conventions.setdefault(name, why)
        conventions.update({k: v for k, v in entry.get("conventions", {}).items() if v})
    notes = [f"- `{k}`: {v}" for k, v in sorted(conventions.items())]
    return "\n".join(lines + ["", "Conventions:", *notes, ""])


def plot_categories(results: dict, path: Path) -> None:
    """Bars per category (e.g. question type) of each task's main metric, real and blank input."""
    tasks = [(t, e) for t, e in results["tasks"].items() if len(e.get("by_category", {})) > 1]
    if not tasks:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tasks), 1, figsize=(9, 3 * len(tasks)), squeeze=False)
    for ax, (task, entry) in zip(axes[:, 0], tasks):
        cats = sorted(entry["by_category"])
        metric = next(k for k in entry["by_category"][cats[0]] if k != "n")
        real = [entry["by_category"][c].get(metric, 0.0) for c in cats]
        blank = [entry.get("blank_by_category", {}).get(c, {}).get(metric, float("nan")) for c in cats]
        x = range(len(cats))
        ax.bar([i - 0.2 for i in x], real, 0.4, label="real input")
        ax.bar([i + 0.2 for i in x], blank, 0.4, label="blank input")
        ax.set_xticks(list(x), cats, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(metric)
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def compare(a: dict, b: dict) -> list[str]:
    """Rows `task metric a b b-a` for every score either file has, and what differs in the setup."""
    lines = []
    for key in ("model", "fingerprint", "seed", "config_hash", "medmllm"):
        if a.get(key) != b.get(key):
            lines.append(f"{key}: {a.get(key)} -> {b.get(key)}")
    lines += ["", "| task | metric | A | B | B - A |", "|---|---|---|---|---|"]
    for task in sorted(set(a["tasks"]) | set(b["tasks"])):
        sa, sb = a["tasks"].get(task, {}).get("scores", {}), b["tasks"].get(task, {}).get("scores", {})
        for name in sorted(set(sa) | set(sb)):
            if name.startswith("n_"):
                continue
            va, vb = sa.get(name), sb.get(name)
            diff = f"{vb - va:+.3f}" if va is not None and vb is not None else ""
            fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
            lines.append(f"| {task} | {name} | {fmt(va)} | {fmt(vb)} | {diff} |")
    return lines
