"""The ``custody`` commands (Typer): partners and keys, submissions, offline signing, EPCIS capture."""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup
from typer.exceptions import TyperException

from gateway.cli._client import TERMINAL, GatewayClient, Submission
from gateway.cli._endpoints import ENDPOINTS, check_operation_name
from gateway.cli._errors import CliError, InputError, ProblemAnswer, SubmissionFailed, WaitTimeout, event_label
from gateway.cli._render import err_console, keys_table, out_console, print_json, submission_lines, submissions_table

__all__ = ["app", "main"]

DEFAULT_URL = "http://127.0.0.1:8000"
PASSPHRASE_ENV = "CUSTODY_KEYSTORE_PASSPHRASE"
MAX_BATCH = 1000


class _RootGroup(TyperGroup):
    """Turns every expected failure into a few lines on stderr and an exit code; never a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except CliError as exc:
            _report(exc.lines())
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if os.environ.get("CUSTODY_DEBUG"):
                raise
            code = getattr(exc, "code", None)
            if isinstance(code, str):  # chain_client errors (a wrong keystore passphrase, …)
                _report([f"error [{code}] {exc}"])
            else:
                _report([f"error [cli.internal] {type(exc).__name__}: {exc}", "  (CUSTODY_DEBUG=1 shows where)"])
            raise typer.Exit(1) from None


def _report(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line, err=True)


app = typer.Typer(
    name="custody",
    cls=_RootGroup,
    help="Chain of Custody Network: partners and keys, submissions, offline signing, EPCIS capture.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
partners_app = typer.Typer(
    help="Onboard partners and manage their signing accounts (admin API key).", no_args_is_help=True
)
keys_app = typer.Typer(
    help="API keys: create, list, revoke, rotate (admin API key); bootstrap the first.", no_args_is_help=True
)
keystore_app = typer.Typer(help="Encrypted keystores (v3) of a partner's own signing key.", no_args_is_help=True)
epcis_app = typer.Typer(help="GS1 EPCIS 2.0 capture.", no_args_is_help=True)
app.add_typer(partners_app, name="partners")
app.add_typer(keys_app, name="keys")
app.add_typer(keystore_app, name="keystore")
app.add_typer(epcis_app, name="epcis")


@dataclass
class Options:
    url: str
    api_key: str | None
    json: bool

    def client(self, *, key: bool = True) -> GatewayClient:
        if key and not self.api_key:
            raise InputError(
                "error [cli.no_api_key] This command needs an API key: pass --api-key or set CUSTODY_API_KEY"
            )
        return GatewayClient(self.url, self.api_key if key else None)


def _options(ctx: typer.Context) -> Options:
    options = ctx.find_root().obj
    assert isinstance(options, Options)
    return options


@app.callback()
def _root(
    ctx: typer.Context,
    url: Annotated[str, typer.Option("--url", envvar="CUSTODY_URL", help="Gateway base URL.")] = DEFAULT_URL,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="CUSTODY_API_KEY", help="API key (partner, auditor or admin).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    ctx.obj = Options(url=url, api_key=api_key or None, json=json_output)


# -- shared helpers ------------------------------------------------------------------------------------

Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait before giving up (exit 3).")]
IdempotencyKey = Annotated[
    str | None, typer.Option("--idempotency-key", help="Repeat-safe submission: the same key returns the same one.")
]


def _read_text(path: str) -> str:
    if path == "-":
        return typer.get_text_stream("stdin").read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"error [cli.file] Cannot read {path}: {exc.strerror or exc}") from None


def _read_json(path: str) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        name = "standard input" if path == "-" else path
        raise InputError(
            f"error [cli.invalid_json] {name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _show_submission(options: Options, s: Submission) -> None:
    if options.json:
        print_json(s)
    else:
        for line in submission_lines(s):
            out_console().print(line, markup=False)


def _progress_printer(options: Options, initial: Submission) -> Callable[[Submission], None]:
    """Prints each new status of a submission on stderr (nothing with --json)."""
    last = [initial.get("status")]

    def on_change(s: Submission) -> None:
        if options.json or s.get("status") == last[0]:
            return
        last[0] = s.get("status")
        extra = f"  tx {s['tx_hash']}" if s.get("tx_hash") else ""
        err_console().print(f"  … {s.get('status')}{extra}", markup=False)

    return on_change


def _finish(options: Options, client: GatewayClient, s: Submission, wait: bool, timeout: float) -> None:
    """Shows a new submission, or waits for its end (exit 1 if it failed)."""
    if not wait:
        _show_submission(options, s)
        return
    if not options.json:
        err_console().print(f"submission {s['id']} {s['status']}; waiting for the ledger …", markup=False)
    final = client.wait(s["id"], timeout, _progress_printer(options, s))
    _show_submission(options, final)
    if final.get("status") == "failed":
        raise SubmissionFailed(final)


# -- submissions -------------------------------------------------------------------------------------------


@app.command()
def submit(
    ctx: typer.Context,
    operation: Annotated[str, typer.Argument(help="register_items, ship, receive, … (the partner operations)")],
    file: Annotated[str, typer.Argument(help="The request body as JSON; - reads standard input.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until confirmed or failed (exit 1 if failed).")] = False,
    timeout: Timeout = 120.0,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Submit one operation (partner API key); prints the submission."""
    options = _options(ctx)
    check_operation_name(operation)
    body = _read_json(file)
    if isinstance(body, dict) and body.get("operation", operation) != operation:
        raise InputError(f"error [cli.operation_mismatch] The file holds a {body['operation']!r} operation, "
                         f"not {operation!r}")  # fmt: skip
    with options.client() as client:
        s = client.post(ENDPOINTS[operation], body, idempotency_key=idempotency_key)
        _finish(options, client, s, wait, timeout)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@app.command("submit-batch")
def submit_batch(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help='A JSON list of operations (or {"operations": [...]}); - for stdin.')],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for every submission to end.")] = True,
    timeout: Timeout = 600.0,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, max=MAX_BATCH, help="Operations per request.")
    ] = MAX_BATCH,
) -> None:
    """Submit many operations (partner API key), checked locally first, with a progress bar while they confirm."""
    from gateway.cli._offline import parse_operations  # web3 and the schemas: imported only when needed

    options = _options(ctx)
    raw = _read_json(file)
    ops = parse_operations(raw)  # every operation valid before the first request: no half-sent batch
    items: list[Any] = raw["operations"] if isinstance(raw, dict) else raw
    accepted: list[Submission] = []
    states: dict[str, Submission] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with options.client() as client, Progress(*columns, console=err_console()) as progress:
        sending = progress.add_task("submitting", total=len(ops))
        chunks = _chunks(items, chunk_size)
        for n, chunk in enumerate(chunks, start=1):
            try:
                answer = client.post("/v1/batch", {"operations": chunk})
            except ProblemAnswer as exc:
                if options.json and accepted:
                    print_json(accepted)
                exc.details.append(
                    f"  request {n} of {len(chunks)} was refused; {len(accepted)} operations before it were accepted"
                    + (f" (submissions {accepted[0]['id']} … {accepted[-1]['id']})" if accepted else "")
                )
                raise
            accepted.extend(answer)
            progress.advance(sending, len(chunk))
        if not wait:
            progress.stop()
            if options.json:
                print_json(accepted)
            else:
                out_console().print(f"{len(accepted)} submissions accepted", markup=False)
                out_console().print(submissions_table(accepted))
            return
        confirming = progress.add_task("confirming", total=len(accepted))

        def on_change(s: Submission) -> None:
            states[s["id"]] = s
            done = [x for x in states.values() if x.get("status") in TERMINAL]
            failed = sum(1 for x in done if x.get("status") == "failed")
            label = "confirming" + (f" ({failed} failed)" if failed else "")
            progress.update(confirming, completed=len(done), description=label)

        for s in accepted:
            on_change(s)
        states.update(client.poll_many([s["id"] for s in accepted], timeout, on_change))
    final = [states[s["id"]] for s in accepted]
    failed = [s for s in final if s.get("status") == "failed"]
    if options.json:
        print_json(final)
    else:
        out_console().print(
            f"{len(final)} submissions: {len(final) - len(failed)} confirmed, {len(failed)} failed", markup=False
        )
    if failed:
        lines: list[str] = []
        for s in failed:
            lines.extend(SubmissionFailed(s).lines())
        raise CliError(f"error [batch.failed] {len(failed)} of {len(final)} submissions failed", lines)


@app.command()
def status(
    ctx: typer.Context,
    submission_id: Annotated[str, typer.Argument(help="The submission's id.")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow it until confirmed or failed.")] = False,
    timeout: Timeout = 120.0,
) -> None:
    """Show a submission (exit 1 if --watch ends on a failure)."""
    options = _options(ctx)
    with options.client() as client:
        s = client.submission(submission_id)
        if watch and s.get("status") not in TERMINAL:
            s = client.wait(submission_id, timeout, _progress_printer(options, s))
        _show_submission(options, s)
        if s.get("status") == "failed":
            lines = SubmissionFailed(s).lines()
            if watch:
                raise SubmissionFailed(s)
            _report(lines)


@app.command()
def submissions(
    ctx: typer.Context,
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only pending, submitted, confirmed or failed ones.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
) -> None:
    """List recent submissions (newest first)."""
    options = _options(ctx)
    with options.client() as client:
        rows = client.get("/v1/submissions", status=status_filter, limit=limit)
    if options.json:
        print_json(rows)
    elif not rows:
        out_console().print("no submissions", markup=False)
    else:
        out_console().print(submissions_table(rows))


@app.command()
def health(ctx: typer.Context) -> None:
    """The gateway's chain id, latest block and contract addresses (what `custody sign` needs)."""
    options = _options(ctx)
    with options.client(key=False) as client:
        body = client.get("/health")
    if options.json:
        print_json(body)
        return
    out = out_console()
    out.print(f"gateway {options.url}: {body.get('status')}, chain id {body.get('chain_id')}, "
              f"block {body.get('latest_block')}", markup=False)  # fmt: skip
    for name, address in (body.get("contracts") or {}).items():
        out.print(f"  {name:<14} {address}", markup=False)


# -- offline signing and relaying ----------------------------------------------------------------------


def _interactive() -> bool:
    return sys.stdin.isatty()


def _passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> str:
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InputError(f"error [cli.file] Cannot read {passphrase_file}: {exc.strerror or exc}") from None
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not _interactive():
        raise InputError(
            "error [cli.no_passphrase] No keystore passphrase: there is no terminal to ask on",
            [f"  pass --passphrase-file FILE or set {PASSPHRASE_ENV}"],
        )
    value: str = typer.prompt("Keystore passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return value


PassphraseFile = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help=f"File holding the passphrase (else ${PASSPHRASE_ENV}, else a prompt)."),
]


@app.command()
def sign(
    ctx: typer.Context,
    operation: Annotated[str, typer.Argument(help="register_items, ship, receive, … (the partner operations)")],
    file: Annotated[str, typer.Argument(help="The request body as JSON; - reads standard input.")],
    keystore: Annotated[Path, typer.Option("--keystore", help="The signer's encrypted keystore (v3).")],
    chain_id: Annotated[int, typer.Option("--chain-id", min=1, help="Chain id (GET /health → chain_id).")],
    relay: Annotated[str, typer.Option("--relay", help="CustodyRelay address (GET /health → contracts).")],
    nonce: Annotated[
        int | None,
        typer.Option(
            "--nonce",
            min=0,
            help="The signer's next relay nonce; omitted, it is asked of the gateway "
            "(GET /v1/signed-calls/nonce: needs --url and an API key), which also counts calls it holds.",
        ),
    ] = None,
    deadline: Annotated[
        str, typer.Option("--deadline", help="Unix seconds, a duration (30m, 1h, 7d) or an ISO time.")
    ] = "1h",
    passphrase_file: PassphraseFile = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the signed call here instead of stdout.")] = None,
) -> None:
    """Sign an operation offline (EIP-712 PartnerCall); prints the JSON for POST /v1/signed-calls."""
    from chain_client.signers import KeystoreSigner
    from gateway.cli._offline import parse_deadline, parse_operation, sign_operation, signed_call_json

    options = _options(ctx)
    op = parse_operation(operation, _read_json(file))
    until = parse_deadline(deadline, time.time())
    signer = KeystoreSigner(keystore, _passphrase(passphrase_file))
    if nonce is None:
        nonce = _gateway_nonce(options, signer.address, chain_id, relay)
    call = signed_call_json(sign_operation(signer, op, chain_id=chain_id, relay=relay, nonce=nonce, deadline=until))
    text = json.dumps(call, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    else:
        out_console().out(text, highlight=False)
    if not options.json:
        when = dt.datetime.fromtimestamp(until, dt.UTC).isoformat(timespec="seconds")
        err_console().print(
            f"signed {operation} as {call['signer']} (nonce {nonce}, valid until {when}); "
            f"relay it with: custody relay {out or 'FILE.json'}",
            markup=False,
        )


def _gateway_nonce(options: Options, signer: str, chain_id: int, relay: str) -> int:
    """The signer's next relay nonce as the gateway sees it (chain plus its outbox); checks that the
    gateway serves the chain and relay being signed for, else the nonce would mean nothing."""
    with options.client() as client:
        answer = client.get("/v1/signed-calls/nonce", signer=signer)
    if int(answer["chain_id"]) != chain_id or str(answer["relay"]).lower() != relay.lower():
        raise InputError(
            f"error [cli.relay_mismatch] The gateway at {options.url} relays through {answer['relay']} on chain "
            f"{answer['chain_id']}, not {relay} on chain {chain_id}",
            ["  check --chain-id and --relay (custody health shows them), or pass --nonce"],
        )
    return int(answer["nonce"])


@app.command()
def relay(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A signed call from `custody sign`; - reads standard input.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until confirmed or failed (exit 1 if failed).")] = False,
    timeout: Timeout = 120.0,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Post a partner-signed call to the gateway (partner API key of the signer's partner)."""
    options = _options(ctx)
    body = _read_json(file)
    with options.client() as client:
        s = client.post("/v1/signed-calls", body, idempotency_key=idempotency_key)
        _finish(options, client, s, wait, timeout)


@keystore_app.command("new")
def keystore_new(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write it (default ./keystore-<address>.json).")
    ] = None,
    passphrase_file: PassphraseFile = None,
    scrypt_n: Annotated[int, typer.Option("--scrypt-n", min=2**10, hidden=True)] = 2**18,
) -> None:
    """Create a new key in an encrypted keystore (v3, scrypt); prints its address."""
    from chain_client.signers import LocalSigner, create_keystore

    options = _options(ctx)
    key = LocalSigner.generate()
    path = out or Path(f"keystore-{key.address}.json")
    if path.exists():
        raise InputError(f"error [cli.file_exists] {path} exists; choose another --out (keystores are not overwritten)")
    passphrase = _passphrase(passphrase_file, confirm=True)
    if not passphrase:
        raise InputError("error [cli.empty_passphrase] A keystore needs a passphrase")
    address = create_keystore(path, passphrase, key.private_key, scrypt_n=scrypt_n)
    if options.json:
        print_json({"address": address, "path": str(path)})
    else:
        out_console().print(f"{address}  {path}", markup=False)
        err_console().print(
            f"onboard it with: custody partners onboard NAME --role … --account {address} --no-custodial",
            markup=False,
        )


@keystore_app.command("address")
def keystore_address(ctx: typer.Context, path: Annotated[Path, typer.Argument(help="A keystore v3 file.")]) -> None:
    """The address of a keystore (no passphrase needed)."""
    from eth_utils.address import to_checksum_address

    body = _read_json(str(path))
    if not isinstance(body, dict) or "address" not in body:
        raise InputError(f"error [cli.invalid_keystore] {path} is not a keystore v3 file (no address)")
    address = to_checksum_address("0x" + str(body["address"]).removeprefix("0x"))
    if _options(ctx).json:
        print_json({"address": address})
    else:
        out_console().print(address, markup=False)


# -- partners (admin) ----------------------------------------------------------------------------------


class Role(enum.StrEnum):
    manufacturer = "manufacturer"
    distributor = "distributor"
    dispenser = "dispenser"
    auditor = "auditor"


@partners_app.command("onboard")
def partners_onboard(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The partner's name.")],
    role: Annotated[Role, typer.Option("--role", help="manufacturer, distributor, dispenser or auditor.")],
    gln: Annotated[list[str] | None, typer.Option("--gln", help="A GLN of the partner (repeatable).")] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", help="An address the partner signs with itself (repeatable).")
    ] = None,
    custodial: Annotated[
        bool, typer.Option("--custodial/--no-custodial", help="Have the gateway create and hold a key.")
    ] = True,
) -> None:
    """Register a partner on chain and issue its API key (shown once)."""
    options = _options(ctx)
    body = {"name": name, "role": role.value, "glns": gln or [], "accounts": account or [], "custodial": custodial}
    with options.client() as client:
        p = client.post("/v1/admin/partners", body)
    if options.json:
        print_json(p)
        return
    key = p["api_key"]
    out = out_console()
    out.print(f"partner {p['partner_id']} {p['name']} ({p['role']}) onboarded in tx {p['tx_hash']}", markup=False)
    out.print(f"  accounts   {', '.join(p['accounts']) or '-'}", markup=False)
    custodial_line = f"{p['custodial_account']} (held by the gateway)" if p.get("custodial_account") else "none"
    out.print(f"  custodial  {custodial_line}", markup=False)
    out.print(f"  API key    {key['key']}", markup=False)
    err_console().print(f"API key {key['id']} ({key['kind']}) is shown only this once: store it now.", markup=False)


@partners_app.command("add-key")
def partners_add_key(
    ctx: typer.Context,
    partner_id: Annotated[int, typer.Argument(help="The partner's id.")],
    account: Annotated[
        str | None, typer.Option("--account", help="The partner's own address; omit for a new custodial key.")
    ] = None,
) -> None:
    """Add a signing account to a partner."""
    options = _options(ctx)
    with options.client() as client:
        a = client.post(f"/v1/admin/partners/{partner_id}/accounts", {"account": account})
    if options.json:
        print_json(a)
    else:
        kind = "custodial, held by the gateway" if a["custodial"] else "the partner's own"
        out_console().print(f"partner {partner_id}: account {a['account']} added ({kind}) in tx {a['tx_hash']}",
                            markup=False)  # fmt: skip


def _admin_action(ctx: typer.Context, method: str, path: str, done: str) -> None:
    options = _options(ctx)
    with options.client() as client:
        client.request(method, path)
    if options.json:
        print_json({"ok": True})
    else:
        out_console().print(done, markup=False)


@partners_app.command("remove-key")
def partners_remove_key(
    ctx: typer.Context,
    partner_id: Annotated[int, typer.Argument(help="The partner's id.")],
    account: Annotated[str, typer.Argument(help="The account to remove.")],
) -> None:
    """Remove a signing account from a partner."""
    _admin_action(ctx, "DELETE", f"/v1/admin/partners/{partner_id}/accounts/{account}",
                  f"partner {partner_id}: account {account} removed")  # fmt: skip


@partners_app.command("suspend")
def partners_suspend(ctx: typer.Context, partner_id: Annotated[int, typer.Argument(help="The partner's id.")]) -> None:
    """Suspend a partner: its operations revert until reinstated."""
    _admin_action(ctx, "POST", f"/v1/admin/partners/{partner_id}/suspend", f"partner {partner_id} suspended")


@partners_app.command("reinstate")
def partners_reinstate(
    ctx: typer.Context, partner_id: Annotated[int, typer.Argument(help="The partner's id.")]
) -> None:
    """Reinstate a suspended partner."""
    _admin_action(ctx, "POST", f"/v1/admin/partners/{partner_id}/reinstate", f"partner {partner_id} reinstated")


# -- API keys ----------------------------------------------------------------------------------------------


class KeyKind(enum.StrEnum):
    partner = "partner"
    auditor = "auditor"
    admin = "admin"


class Scope(enum.StrEnum):
    submit = "submit"
    read = "read"
    admin = "admin"


def _show_created_key(options: Options, k: dict[str, Any], verb: str) -> None:
    if options.json:
        print_json(k)
        return
    owner = f" of partner {k['partner_id']}" if k.get("partner_id") else ""
    out_console().print(k["key"], markup=False)
    err_console().print(
        f"{verb} {k['kind']} API key {k['id']}{owner} (scopes {' '.join(k['scopes'])}); shown only this once.",
        markup=False,
    )


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    kind: Annotated[KeyKind, typer.Option("--kind", help="partner, auditor or admin.")],
    partner_id: Annotated[int | None, typer.Option("--partner-id", help="The partner (partner keys).")] = None,
    scope: Annotated[list[Scope] | None, typer.Option("--scope", help="submit, read, admin (repeatable).")] = None,
    name: Annotated[str, typer.Option("--name", help="A label.")] = "",
) -> None:
    """Create an API key; prints the secret once."""
    options = _options(ctx)
    scopes = [s.value for s in scope] if scope else None
    body = {"kind": kind.value, "partner_id": partner_id, "scopes": scopes, "name": name}
    with options.client() as client:
        k = client.post("/v1/admin/api-keys", body)
    _show_created_key(options, k, "created")


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    partner_id: Annotated[int | None, typer.Option("--partner-id", help="Only this partner's keys.")] = None,
) -> None:
    """List API keys (never their secrets)."""
    options = _options(ctx)
    with options.client() as client:
        rows = client.get("/v1/admin/api-keys", partner_id=partner_id)
    if options.json:
        print_json(rows)
    else:
        out_console().print(keys_table(rows))


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key at once."""
    _admin_action(ctx, "POST", f"/v1/admin/api-keys/{key_id}/revoke", f"API key {key_id} revoked")


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id.")]) -> None:
    """Replace an API key by a new one with the same kind, partner and scopes; the old one is revoked."""
    options = _options(ctx)
    with options.client() as client:
        k = client.post(f"/v1/admin/api-keys/{key_id}/rotate")
    _show_created_key(options, k, f"rotated key {key_id} into")


@keys_app.command("bootstrap-admin")
def keys_bootstrap_admin(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The gateway's data folder (default $CUSTODY_DATA_DIR or .data).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label.")] = "bootstrap admin",
    force: Annotated[bool, typer.Option("--force", help="Create one even if an active admin key exists.")] = False,
) -> None:
    """Create the first admin key directly in the gateway's database (no HTTP; run where the gateway runs)."""
    from pydantic import ValidationError

    from gateway.core.config import Settings
    from gateway.db import database_url, make_engine, session_factory, upgrade
    from gateway.partner.apikeys import ApiKeys

    options = _options(ctx)
    try:
        settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except ValidationError as exc:
        problems = [f"  - {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InputError("error [cli.settings] The CUSTODY_* settings are invalid", problems) from None
    url = database_url(settings.database_url, settings.data_dir)
    engine = make_engine(url)
    try:
        upgrade(engine)
        keys = ApiKeys(session_factory(engine))
        active = [k for k in keys.list() if k.kind == "admin" and k.revoked_at is None]
        if active and not force:
            raise CliError(
                f"error [cli.admin_exists] The database at {engine.url.render_as_string(hide_password=True)} already "
                f"has an active admin key (id {active[0].id})",
                ["  create more with `custody keys create --kind admin` and that key, or pass --force"],
            )
        created = keys.create("admin", name=name)
    finally:
        engine.dispose()
    k = {"id": created.id, "key": created.key, "prefix": created.prefix, "kind": created.kind, "partner_id": None,
         "scopes": list(created.scopes)}  # fmt: skip
    if not options.json:
        err_console().print(f"database {engine.url.render_as_string(hide_password=True)}", markup=False)
    _show_created_key(options, k, "created")


# -- EPCIS -----------------------------------------------------------------------------------------------------

EPCIS_VERSION = "2.0.0"


def _capture_failures(job: dict[str, Any]) -> CliError:
    lines: list[str] = []
    for e in job.get("errors") or []:
        where = f" (event {event_label(e)})" if e.get("event_id") or e.get("event_index") is not None else ""
        lines.append(f"error [{e.get('code')}] submission {e.get('submission_id')}{where} failed: {e.get('detail')}")
    failed = len(job.get("errors") or [])
    return CliError(f"error [epcis.capture_failed] capture {job.get('captureID')}: {failed} submissions failed", lines)


def _show_capture(options: Options, job: dict[str, Any]) -> None:
    if options.json:
        print_json(job)
        return
    subs = job.get("submissions") or []
    state = "running" if job.get("running") else ("succeeded" if job.get("success") else "finished with failures")
    out = out_console()
    out.print(f"capture {job.get('captureID')}: {len(subs)} submissions, {state}", markup=False)
    if subs:
        out.print(submissions_table(subs))


def _wait_capture(client: GatewayClient, job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Polls a capture job until no submission of it is pending, with a progress bar on stderr."""
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err_console()) as progress:
        task = progress.add_task("confirming", total=len(job.get("submissions") or []))
        while True:
            subs = job.get("submissions") or []
            done = sum(1 for x in subs if x.get("status") in TERMINAL)
            failed = sum(1 for x in subs if x.get("status") == "failed")
            label = "confirming" + (f" ({failed} failed)" if failed else "")
            progress.update(task, total=len(subs), completed=done, description=label)
            if not job.get("running"):
                return job
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"error: capture {job.get('captureID')} is still running after {timeout:g}s",
                    [f"  follow it with: custody epcis status {job.get('captureID')} --watch"],
                )
            time.sleep(0.25)
            job = client.get(f"/v1/epcis/capture/{job['captureID']}")


@epcis_app.command("capture")
def epcis_capture(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="An EPCIS 2.0 document (JSON or JSON-LD); - reads standard input.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait until its submissions end (exit 1 if one fails).")] = False,
    timeout: Timeout = 300.0,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Capture an EPCIS document (POST /v1/epcis/capture, partner API key); prints the capture job."""
    options = _options(ctx)
    text = _read_text(file)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        name = "standard input" if file == "-" else file
        raise InputError(
            f"error [cli.invalid_json] {name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    headers = {
        "Content-Type": "application/ld+json" if file.endswith(".jsonld") else "application/json",
        "GS1-EPCIS-Version": EPCIS_VERSION,
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with options.client() as client:
        job = client.request("POST", "/v1/epcis/capture", content=text.encode("utf-8"), headers=headers)
        if wait:
            job = _wait_capture(client, job, timeout)
    _show_capture(options, job)
    if wait and not job.get("success", True):
        raise _capture_failures(job)


@epcis_app.command("status")
def epcis_status(
    ctx: typer.Context,
    capture_id: Annotated[str, typer.Argument(help="The captureID.")],
    watch: Annotated[bool, typer.Option("--watch", help="Follow it until its submissions end.")] = False,
    timeout: Timeout = 300.0,
) -> None:
    """Show a capture job and its submissions (exit 1 if --watch ends with failures)."""
    options = _options(ctx)
    with options.client() as client:
        job = client.get(f"/v1/epcis/capture/{capture_id}")
        if watch:
            job = _wait_capture(client, job, timeout)
    _show_capture(options, job)
    if not job.get("running") and not job.get("success", True):
        failures = _capture_failures(job)
        if watch:
            raise failures
        _report(failures.lines())


def main(argv: list[str] | None = None) -> int:
    """The ``custody`` entry point; returns the exit code."""
    try:
        app(args=argv, prog_name="custody")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
