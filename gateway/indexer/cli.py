"""Command line of the indexer: ``python -m gateway.indexer {sync,rebuild,check}``.

``rebuild`` builds the model from the chain alone into a fresh database; ``check`` compares a
live model with a rebuilt one table by table and prints every difference (exit code 1 when
there is any) — given ``--rpc-url`` and ``--ledger`` it first rebuilds, up to the live
checkpoint, into ``--rebuilt-url``.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from gateway.indexer.compare import compare_databases
from gateway.indexer.errors import IndexerError
from gateway.indexer.indexer import Indexer, IndexerConfig
from gateway.indexer.maintenance import last_indexed_block, open_database, rebuild
from gateway.indexer.source import RpcSource

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Index a CustodyLedger's events into SQL.")

DatabaseUrl = Annotated[str, typer.Option("--database-url", help="SQLAlchemy URL, e.g. sqlite:///custody.db")]
RpcUrl = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of the node")]
Ledger = Annotated[str, typer.Option("--ledger", help="Address of the CustodyLedger")]
Relay = Annotated[str | None, typer.Option("--relay", help="Address of its relay (default: asked from the ledger)")]
FromBlock = Annotated[int, typer.Option("--from-block", help="First block to index (the ledger's deployment)")]
Confirmations = Annotated[int, typer.Option("--confirmations", help="Index only blocks with this many on top")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def sync(
    database_url: DatabaseUrl,
    rpc_url: RpcUrl,
    ledger: Ledger,
    relay: Relay = None,
    from_block: FromBlock = 0,
    confirmations: Confirmations = 0,
    poll_interval: Annotated[float, typer.Option(help="Seconds between polls for new blocks")] = 2.0,
    once: Annotated[bool, typer.Option(help="Index what is there, then exit")] = False,
) -> None:
    """Index the ledger's events, then keep following new blocks (unless --once)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = IndexerConfig(confirmations=confirmations, start_block=from_block)
    try:
        with RpcSource(rpc_url) as source:
            indexer = Indexer(open_database(database_url), source, ledger, relay=relay, config=config)
            if once:
                report = indexer.sync_once()
                typer.echo(f"indexed up to block {report.to_block}: {report.events} events")
            else:
                indexer.run_forever(poll_interval)
    except IndexerError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:  # Ctrl-C: the last batch was committed or rolled back as a whole
        typer.echo("stopped", err=True)


@app.command("rebuild")
def rebuild_command(
    database_url: DatabaseUrl,
    rpc_url: RpcUrl,
    ledger: Ledger,
    relay: Relay = None,
    from_block: FromBlock = 0,
    to_block: Annotated[int | None, typer.Option(help="Last block to index (default: the head)")] = None,
    confirmations: Confirmations = 0,
) -> None:
    """Build the model from the chain alone into a fresh database."""
    config = IndexerConfig(confirmations=confirmations, start_block=from_block)
    try:
        with RpcSource(rpc_url) as source:
            report = rebuild(open_database(database_url), source, ledger, relay=relay, to_block=to_block, config=config)
    except IndexerError as exc:
        raise _fail(str(exc)) from None
    rate = report.events / report.seconds if report.seconds else 0.0
    typer.echo(
        f"rebuilt up to block {report.to_block}: {report.events} events in {report.seconds:.2f}s ({rate:,.0f} events/s)"
    )


@app.command()
def check(
    live_url: Annotated[str, typer.Option("--live-url", help="Database of the live model")],
    rebuilt_url: Annotated[str, typer.Option("--rebuilt-url", help="Database of the rebuilt model")],
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Rebuild first, from this node")] = None,
    ledger: Annotated[str | None, typer.Option("--ledger", help="Rebuild first, this ledger")] = None,
    relay: Relay = None,
    from_block: FromBlock = 0,
) -> None:
    """Compare a live model with a rebuilt one; print every difference (exit code 1 when any)."""
    try:
        live, rebuilt = open_database(live_url), open_database(rebuilt_url)
        if rpc_url is not None or ledger is not None:
            if rpc_url is None or ledger is None:
                raise _fail("rebuilding needs both --rpc-url and --ledger")
            with RpcSource(rpc_url) as source:
                config = IndexerConfig(start_block=from_block)
                rebuild(rebuilt, source, ledger, relay=relay, to_block=last_indexed_block(live), config=config)
        count = 0
        for difference in compare_databases(live, rebuilt):
            typer.echo(str(difference))
            count += 1
    except IndexerError as exc:
        raise _fail(str(exc)) from None
    if count:
        typer.echo(f"{count} difference(s)", err=True)
        raise typer.Exit(1)
    typer.echo("the live model equals the rebuilt one")


def main() -> None:
    app()
