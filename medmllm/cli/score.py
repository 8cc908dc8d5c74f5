"""`medmllm score`: score a predictions file, no model needed."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app, print_json


@app.command()
def score(task: Annotated[str, typer.Argument(help="vqa or report.")],
          predictions: Annotated[Path, typer.Argument(help="JSONL, one {\"id\", \"pred\", \"ref\"} per line (VQA: also "
                                                           "answer_type CLOSED/OPEN, question; report: ref may be a "
                                                           "list). `medmllm eval`'s predictions.jsonl works.")],
          convention: Annotated[Optional[str], typer.Option(help="VQA scoring convention: llava-med (default; LLaVA-Med "
                                                                 "run_eval_batch.py), llava-med-gated (run_eval.py), "
                                                                 "multimedeval, exact.")] = None,
          tokenize: Annotated[Optional[str], typer.Option(help="Report tokenisation: ptb (default for BLEU/METEOR/ROUGE-L/"
                                                               "CIDEr-D), r2gen, none. Unset, rouge-score and sacrebleu "
                                                               "use their own tokenizers.")] = None,
          json_: Annotated[bool, typer.Option("--json", help="Print one JSON object (metrics, per_sample, convention, "
                                                             "versions, n, unavailable).")] = False,
          max_chars: Annotated[int, typer.Option("--max-chars", help="Longest pred/ref/question scored, in characters.")] = 100_000) -> None:
    """Score predictions against references: VQA closed accuracy / open recall / open F1 / exact match
    under a named convention, or report BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (values 0-1, CIDEr-D 0-10)."""
    from ..errors import MedMLLMError
    from ..eval.score import score_file, table

    if max_chars <= 0:
        raise MedMLLMError(f"--max-chars: must be positive, got {max_chars}")
    result = score_file(task, predictions, convention=convention, tokenize=tokenize, max_chars=max_chars)
    if json_:
        print_json(result)
    else:
        print(table(result, task, predictions))
