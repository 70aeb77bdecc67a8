"""``python -m crossmargin``: the same as the ``crossmargin`` command."""

from crossmargin.cli import main

main()
