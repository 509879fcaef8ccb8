"""``python -m opendmp``: the same command line as ``opendmp``."""

from opendmp.cli import main

main()
