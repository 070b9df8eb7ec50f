"""``python -m gateway.indexer``: see :mod:`gateway.indexer.cli`."""

from gateway.indexer.cli import main

main()
