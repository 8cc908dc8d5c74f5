"""`python -m medmllm.cli` is the `medmllm` command."""
from . import main

main()
