"""`benchmarks/RESULTS.md` from the runner's results: a header (date, machine, matmul peak, the
command), one table per section, and how to read them."""
from __future__ import annotations

import statistics

from _common import Figure

BUSY_TARGET = 2.5
"""Issue 16: with one of two cores busy, a figure takes at most 2.5x its quiet time."""

HOW_TO_READ = f"""## How to read this

- **ours** and **baseline**: the median of the repetitions, then (min–max). Both sides are measured in
  the same process on the same data and dimensions, their repetitions interleaved (A B A B ...), so a
  change in the machine's load hits both alike.
- **ratio**: how many times better ours is than the baseline, median over median: ours / baseline
  for rates (higher is better), baseline / ours for times and memory. **met?** compares it with the
  issue's target. A figure without a baseline is an absolute value ("–").
- **busy ×**: how many times worse ours is when another process holds one core (the runner's
  "hog", one thread multiplying matrices) than quiet, median over median: busy / quiet for times,
  quiet / busy for rates. The target is at most {BUSY_TARGET}× (issue 16).
- Under each section: each run's wall time, the section process's peak memory (`ru_maxrss`, its
  children included), and the CPU that *other* processes used meanwhile (the machine's busy time less
  the runner, the section and the hog), as cores and as a share of the machine. A quiet run with a
  large share was not quiet: read its figures with care.
- The fp32 matmul peak is measured at the start of the same run (torch's default threads); MFU
  figures divide by it.
"""


def _median(xs: list[float] | None) -> float | None:
    return statistics.median(xs) if xs else None


def fmt(x: float | None) -> str:
    """A value with three significant figures (no exponent for ordinary sizes)."""
    if x is None:
        return "–"
    if x == 0 or 0.01 <= abs(x) < 1e6:
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return f"{x:.2e}"


def spread(xs: list[float] | None) -> str:
    """'median (min–max)', or '–'."""
    if not xs:
        return "–"
    if len(xs) == 1:
        return fmt(xs[0])
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def ratio(fig: dict) -> float | None:
    """Ours against the baseline (`Figure.ratio`: median over median, oriented so higher is better)."""
    return Figure(**fig).ratio()


def busy_factor(quiet: dict, busy: dict | None) -> float | None:
    """How many times worse ours is with a core busy: busy / quiet for times, quiet / busy for rates."""
    if busy is None:
        return None
    q, b = _median(quiet.get("ours")), _median(busy.get("ours"))
    if not q or not b:
        return None
    return q / b if quiet.get("higher_better", True) else b / q


def _row(fig: dict, busy: dict | None) -> str:
    r, target = ratio(fig), fig.get("target")
    met = "–" if r is None or target is None else ("yes" if r >= target else "**no**")
    f = busy_factor(fig, busy)
    busy_cell = "–" if f is None else f"{f:.2f}× ({'yes' if f <= BUSY_TARGET else '**no**'})"
    name = fig["name"] + (f" [{fig['unit']}]" if fig.get("unit") else "")
    base = spread(fig.get("base")) + (f" {fig['baseline']}" if fig.get("baseline") and fig.get("base") else "")
    cells = [name, spread(fig["ours"]), base, "–" if r is None else f"{r:.2f}×",
             "–" if target is None else f"{target:g}×", met, busy_cell, fig.get("note", "").replace("|", "/")]
    return "| " + " | ".join(cells) + " |"


def _run_line(mode: str, run: dict, cores: int) -> str:
    others = run.get("others_cores")
    share = "–" if others is None else f"{others:.2f} cores ({100 * others / max(cores, 1):.0f} %)"
    state = "" if run["ok"] else f" — **failed**: {run['error']}"
    return (f"- {mode} run: {run['wall_s']:.0f} s, peak {run['peak_mb']:.0f} MB, "
            f"others' CPU {share}{state}")


def section(sec: dict, cores: int) -> str:
    """One section: a line per run, then the table of its figures (from the quiet run, busy × beside)."""
    runs = sec["runs"]
    lines = [f"## {sec['name']}", "", *(_run_line(m, r, cores) for m, r in runs.items()), ""]
    quiet, busy = runs.get("quiet", {}), runs.get("busy", {})
    figures = quiet.get("figures") if quiet.get("ok") else busy.get("figures") if busy.get("ok") else None
    if not figures:
        return "\n".join(lines)
    busy_by_name = {f["name"]: f for f in busy.get("figures", [])} if busy.get("ok") and quiet.get("ok") else {}
    lines += ["| figure | ours | baseline | ratio | target | met? | busy × (≤ 2.5) | note |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [_row(f, busy_by_name.get(f["name"])) for f in figures]
    return "\n".join(lines + [""])


def render(results: dict) -> str:
    """The whole Markdown report."""
    m, p = results["machine"], results["matmul_peak"]
    head = [
        "# medmllm benchmarks (`make bench`)", "",
        (f"{results['date']}; {m['cores']} cores ({m['cpu']}); Python {m['python']}, torch {m['torch']}, "
         f"transformers {m['transformers']}; commit {m['commit']}."), "",
        (f"fp32 matmul peak: **{p['gflops']:.1f} GFLOP/s** ({p['min']:.1f}–{p['max']:.1f}; {p['n']} × {p['n']}, "
         f"{p['threads']} threads), measured at the start of this run."), "",
        (f"Command: `{results['command']}` ({results['reps']} repetition{'s' if results['reps'] != 1 else ''} per figure; "
         f"{'each section quiet, then with one core busy' if results['busy'] else 'quiet runs only'}; "
         f"{results['wall_s']:.0f} s in all)."), "",
    ]
    body = [section(s, m["cores"]) for s in results["sections"]]
    return "\n".join(head + body + [HOW_TO_READ])
