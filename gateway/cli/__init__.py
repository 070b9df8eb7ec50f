"""``custody``: the command line of the Chain of Custody Network.

Manages partners and API keys, submits operations and EPCIS documents, follows submissions,
and signs partner calls offline (EIP-712) for relaying. Modules:

- :mod:`gateway.cli._app`: the Typer commands and :func:`main` (the ``custody`` entry point);
- :mod:`gateway.cli._client`: the gateway over HTTP (problem+json, SSE, polling);
- :mod:`gateway.cli._endpoints`: operation names and their endpoints (no web3 import, so commands start fast);
- :mod:`gateway.cli._offline`: validation, ABI encoding and signing without a node (imported on use);
- :mod:`gateway.cli._errors`: the exception tree and how errors read;
- :mod:`gateway.cli._render`: human and JSON output.
"""

from gateway.cli._app import app, main

__all__ = ["app", "main"]
