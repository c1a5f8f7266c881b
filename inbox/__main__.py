"""``python -m inbox`` is the ``inbox`` command (useful where the console script is not on PATH)."""

from inbox.cli import main

main()
