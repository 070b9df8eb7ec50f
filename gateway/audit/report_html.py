"""A printable chain-of-custody report: one self-contained HTML page (inline CSS, no scripts, no
external resources). Every value from the ledger is escaped; document links are relative
``/ipfs/{cid}`` paths of this gateway."""

from __future__ import annotations

import datetime as dt
from html import escape

from gateway.audit.custody import CustodyChain, CustodyEvent, DocumentLink
from gateway.audit.trace import TracePartner

__all__ = ["render_custody_report"]

_CSS = """
body { font: 11pt/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 16pt; margin: 0 0 .2em; } h2 { font-size: 12pt; margin: 1.5em 0 .4em; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #999; padding: .25em .4em;
  text-align: left; vertical-align: top; } th { background: #eee; }
dl { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; } dt { font-weight: 600; }
.mono { font-family: ui-monospace, monospace; font-size: 9pt; word-break: break-all; }
.muted { color: #555; } @media print { body { margin: 0; } a { color: inherit; } }
"""


def _e(value: object) -> str:
    return "" if value is None else escape(str(value), quote=True)


def _time(value: dt.datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _mono(value: object) -> str:
    return f"<span class=mono>{_e(value)}</span>" if value not in (None, "") else ""


def _partner(p: TracePartner | None) -> str:
    return "" if p is None else f"{_e(p.name)} <span class=muted>(#{p.partner_id})</span>"


def _docs(docs: list[DocumentLink]) -> str:
    links = []
    for d in docs:
        label = f"{_e(d.doc_type.lower())} {_e(d.cid) or _e(d.document_id)}"
        links.append(f'<a class=mono href="{_e(d.url)}">{label}</a>' if d.url else f"<span class=mono>{label}</span>")
    return "<br>".join(links)


def _row(e: CustodyEvent) -> str:
    what = _e(e.event.replace("_", " "))
    if e.status:
        what += f"<br><span class=muted>status {_e(e.status)}</span>"
    if e.container_id:
        what += f"<br><span class='muted mono'>in {_e(e.container_id)}</span>"
    if e.shipment_id is not None:
        what += f"<br><span class=muted>shipment {_e(e.shipment_id)}</span>"
    cells = [
        _e(_time(e.at)),
        what,
        _partner(e.partner),
        _partner(e.counterparty),
        _partner(e.custodian),
        _mono(e.gln),
        _e(e.reason),
        _docs(e.documents),
        f"{_e(e.block_number)}<br><span class=mono>{_e(e.tx_hash)}</span>",
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_custody_report(chain: CustodyChain, generated_at: dt.datetime | None = None) -> str:
    """The report as a complete HTML document."""
    o = chain.object
    generated = _time(generated_at or dt.datetime.now(dt.UTC))
    facts = [
        ("Object id", _mono(o.object_id)),
        ("EPC", _mono(o.epc)),
        ("Kind", _e(o.kind)),
        ("GTIN", _e(o.gtin)),
        ("Serial", _e(o.serial)),
        ("Lot", _e(o.lot)),
        ("SSCC", _e(o.sscc)),
        ("Quantity", f"{_e(o.quantity)} {_e(o.unit_of_measure)}" if o.quantity is not None else ""),
        ("Production date", _e(o.production_date)),
        ("Expiry date", _e(o.expiry_date)),
        ("Origin GLN", _mono(o.origin_gln)),
        ("Status", _e(o.status)),
        ("Registered", f"{_e(_time(o.registered_at))} by {_partner(o.registrant)}"),
        ("Custodian", _partner(o.custodian)),
        ("Owner", _partner(o.owner)),
        ("Packed in", _mono(o.parent_id)),
    ]
    summary = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts if v.strip())
    head = ["Time", "Event", "By", "Counterparty", "Custodian after", "GLN", "Reason", "Documents", "Block / tx"]
    rows = "".join(_row(e) for e in chain.events)
    title = f"Chain of custody: {o.epc}"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=muted>Generated {_e(generated)} from the custody ledger's event index. "
        f"{len(chain.events)} events.</p>"
        f"<h2>Object</h2><dl>{summary}</dl>"
        "<h2>Events</h2><table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{rows}</tbody></table>"
        "</body></html>\n"
    )
