"""`python -m carpscope`."""

from carpscope.cli import main

main()
