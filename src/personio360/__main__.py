"""``python -m personio360``: the same command line as the ``personio360`` script."""

from personio360.cli.main import main

main()
