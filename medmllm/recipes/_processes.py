"""Data-parallel training in local processes: `train.processes: N` starts N copies of the stage, as
`torchrun --nproc_per_node N` would, and waits for them.

Each process sets the environment torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT on
loopback) and runs the same recipe; the HF Trainer then joins the process group (gloo on a CPU; on
GPUs the Trainer's NCCL, not tested here), wraps the model in DDP (rank 0's weights broadcast to
all), gives every process its own `batch_size` samples of each step (the global batch is
`batch_size` x N) and averages the gradients.
Only rank 0 writes the run's artifacts (`is_main`): checkpoints (the Trainer), the final model, the
log and the loss plot. Started with `torchrun` instead, a recipe finds the environment already set and
runs as one of its processes.

Why processes and not threads: on this project's 2-core machine the demo's SFT ran 2.8-3.2 steps/s in
two one-thread processes against 2.65-2.7 in one process with two threads (`benchmarks/processes.py`,
`benchmarks/demo.md`): the small matrix products of a tiny model do not split well across threads.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from pathlib import Path

from ..errors import MedMLLMError
from ..threads import cores


def world_size() -> int:
    """The processes of this run: WORLD_SIZE as torchrun (or `launch`) sets it, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """True in the process that writes the run's artifacts (rank 0, or a run of one process)."""
    return int(os.environ.get("RANK", "0")) == 0


def launch(cfg, resume: bool) -> dict:
    """Run `cfg`'s stage in `cfg.train.processes` local processes; returns rank 0's train metrics. A
    MedMLLMError in any process is raised here in one line, and the other processes are stopped."""
    import torch.multiprocessing as mp

    n = cfg.train.processes
    if cfg.train.threads == 0:  # the cores shared out, rather than each process finding the others busy
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=max(1, cores() // n)))
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(rank, n, port, cfg, resume, errors), daemon=False) for rank in range(n)]
    for p in procs:
        p.start()
    try:
        while any(p.exitcode is None for p in procs):
            if any(p.exitcode not in (None, 0) for p in procs):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.exitcode is None:
                p.terminate()
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        message = errors.get()[1] if not errors.empty() else f"a training process ended with code {failed[0]}"
        raise MedMLLMError(message)
    return json.loads((Path(cfg.train.output_dir) / "model" / "train_metrics.json").read_text())


def _worker(rank: int, n: int, port: int, cfg, resume: bool, errors) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(n), LOCAL_WORLD_SIZE=str(n),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS=str(cfg.train.threads or 1))
    from . import run

    try:
        run(cfg, resume=resume)
    except MedMLLMError as e:
        errors.put((rank, str(e)))
        raise SystemExit(2) from None
    except BaseException as e:
        errors.put((rank, f"training process {rank}: {type(e).__name__}: {e}"))
        raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
