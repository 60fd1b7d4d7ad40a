"""`python -m mlpnas <verb> ...`: the same as the `mlpnas` command."""

from .cli import main

main()
