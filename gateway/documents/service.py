"""The documents service: uploads that get anchored, reads that verify, confidentiality, retention.

Routers stay thin; everything a request means happens here, against any ``DocumentStore``
(embedded or Kubo) and the chain.

Reading verifies, in this order, before the first byte is sent:

1. access — a confidential document (an envelope, recognised by its own first bytes, so the
   rule holds even without the catalog) is served only to its recipients;
2. the chain — at least one anchor of the CID must exist, checked with ``documentAnchoredAt``
   for each subject known from the catalog or the indexer's ``idx_documents`` (falling back to
   the chain's ``DocumentAnchored`` events when none is confirmed: see ``confirmed_anchors``);
3. the bytes — the whole content is read back and re-imported into a CID with the parameters
   it was added with; any damaged or missing block, or a different CID, is an error.

Then the content is streamed a second time (the embedded store re-verifies every block again,
so damage appearing in between aborts the response rather than completing it wrongly).

``DocumentService.verify`` runs checks 2 and 3 for one CID without serving it and reports
instead of raising: the end-to-end check of one document that audits and
``python -m gateway.documents verify`` use.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from chain_client.errors import ContractRevert
from chain_client.ledger import CustodyLedgerClient, object_id
from gateway.documents.anchors import Anchor, AnchorReader, document_id
from gateway.documents.car import iter_car
from gateway.documents.catalog import Catalog, CatalogAnchor, CatalogEntry
from gateway.documents.cid import RAW, Cid, CidLike
from gateway.documents.dagpb import decode_pbnode
from gateway.documents.errors import BlockNotFound, DocumentStoreError, IntegrityError, MalformedBlock, NotAFile
from gateway.documents.interface import AddResult, DocumentStore, GcResult
from gateway.documents.keys import DocumentKeyring, key_id
from gateway.documents.retention import RetentionService
from gateway.documents.service_errors import AccessDenied, AuthenticationRequired, InvalidUpload, NotAnchored
from gateway.documents.sniff import OCTET_STREAM, SNIFF_BYTES, safe_media_type, sniff
from gateway.documents.store import EmbeddedDocumentStore
from gateway.documents.unixfs import ByteSource, import_file
from gateway.partner.apikeys import ApiKeys, Principal
from gateway.partner.operations import AnchorDocument, ObjectRef, resolve
from gateway.partner.outbox import Outbox, SubmissionView

__all__ = [
    "ChainAccess",
    "DocumentInfo",
    "DocumentService",
    "DocumentVerification",
    "OpenedDocument",
    "UploadForm",
    "Uploaded",
    "VerifiedAnchor",
]

_PLACEHOLDER_CID = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
_MAX_RECIPIENTS = 64


class ChainAccess(Protocol):
    """What the service needs of the gateway's services (``gateway.core.services.Services``)."""

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The read model's database (the indexer's ``idx_*`` tables)."""
        ...

    @property
    def ledger(self) -> CustodyLedgerClient: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def api_keys(self) -> ApiKeys: ...


class _NullSink:
    def put(self, cid: Cid, parts: Sequence[bytes]) -> None:
        pass


class _Counting:
    """A reader that counts what passes through it (the plaintext size of an upload)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.inner.read(size)
        self.size += len(data)
        return data


# -- requests and answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadForm:
    """The fields of ``POST /v1/documents`` besides the file, validated."""

    document_type: str
    object: ObjectRef | None = None
    shipment_id: int | None = None
    confidential: bool = False
    recipients: tuple[int, ...] = ()
    cid_version: int = 1
    filename: str | None = None
    content_type: str | None = None

    @classmethod
    def parse(cls, fields: Mapping[str, str], *, filename: str | None, content_type: str | None) -> UploadForm:
        """From multipart text fields: ``object`` is an EPC URN or a JSON object of GS1 keys."""
        known = {"document_type", "object", "shipment_id", "confidential", "recipients", "cid_version"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InvalidUpload(f"unknown form field(s): {', '.join(unknown)}", field=unknown[0])
        if "document_type" not in fields:
            raise InvalidUpload("the form field document_type is required", field="document_type")
        ref: ObjectRef | None = None
        if (raw := fields.get("object", "").strip()) != "":
            try:
                ref = ObjectRef(**json.loads(raw)) if raw.startswith("{") else ObjectRef(epc=raw)
            except (ValueError, TypeError) as exc:
                raise InvalidUpload(f"object: {_first_error(exc)}", field="object") from None
        shipment: int | None = None
        if (raw := fields.get("shipment_id", "").strip()) != "":
            shipment = _int(raw, "shipment_id")
        listed = fields.get("recipients", "").replace(" ", ",").split(",")
        recipients = tuple(_int(p.strip(), "recipients") for p in listed if p.strip())
        if len(recipients) > _MAX_RECIPIENTS:
            raise InvalidUpload(f"at most {_MAX_RECIPIENTS} recipients", field="recipients")
        confidential = _bool(fields.get("confidential", "false"), "confidential")
        cid_version = _int(fields.get("cid_version", "1"), "cid_version")
        if cid_version not in (0, 1):
            raise InvalidUpload("cid_version is 0 or 1", field="cid_version")
        form = cls(fields["document_type"].strip(), ref, shipment, confidential, recipients, cid_version,
                   filename, content_type)  # fmt: skip
        form.operation(_PLACEHOLDER_CID)  # the schema checks: one subject, a known document type
        return form

    def operation(self, cid: str) -> AnchorDocument:
        try:
            return AnchorDocument(
                object=self.object, shipment_id=self.shipment_id,
                document_type=self.document_type,  # type: ignore[arg-type]  # validated by pydantic
                cid=cid,
            )  # fmt: skip
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "object"
            raise InvalidUpload(f"{where}: {error['msg']}", field=where) from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return str(exc.errors()[0]["msg"])
    return str(exc)


def _int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidUpload(f"{name} must be an integer, not {value[:40]!r}", field=name) from None
    if number < 0:
        raise InvalidUpload(f"{name} must not be negative", field=name)
    return number


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise InvalidUpload(f"{name} must be true or false, not {value[:40]!r}", field=name)


@dataclass(frozen=True)
class Uploaded:
    cid: Cid
    size: int
    stored_size: int
    confidential: bool
    content_type: str
    recipients: tuple[int, ...]
    submission: SubmissionView


@dataclass(frozen=True)
class VerifiedAnchor:
    subject: str
    document_id: str
    anchored_at: int


@dataclass(frozen=True)
class DocumentVerification:
    """What ``DocumentService.verify`` found: ``ok`` when anchored on chain and stored intact."""

    cid: str
    anchors: list[VerifiedAnchor]
    """Anchors ``documentAnchoredAt`` confirms now (empty: not anchored, or not to that subject)."""
    confidential: bool
    content: str
    """``intact``, or the store's error code: ``ipfs.not_found`` (absent or incomplete),
    ``ipfs.integrity`` (a block or the whole content does not hash to its CID), ``ipfs.malformed``…"""
    detail: str | None = None

    @property
    def anchored(self) -> bool:
        return bool(self.anchors)

    @property
    def ok(self) -> bool:
        return self.anchored and self.content == "intact"

    def as_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid, "ok": self.ok, "anchored": self.anchored, "content": self.content,
            "detail": self.detail, "confidential": self.confidential,
            "anchors": [dataclasses.asdict(a) for a in self.anchors],
        }  # fmt: skip


@dataclass
class OpenedDocument:
    cid: Cid
    content_type: str
    size: int
    filename: str | None
    confidential: bool
    anchors: list[VerifiedAnchor]
    body: Iterator[bytes] = field(repr=False)


@dataclass(frozen=True)
class Envelope:
    """What a CID's first bytes say: a confidential envelope (with its recipients) or not."""

    confidential: bool
    recipients: tuple[int, ...] = ()
    head: bytes = b""


@dataclass(frozen=True)
class DocumentInfo:
    cid: str
    stored: bool
    confidential: bool
    size: int | None
    content_type: str | None
    filename: str | None
    recipients: list[int] | None
    anchors: list[Anchor]
    pending: list[dict[str, Any]]


# -- the service -----------------------------------------------------------------------------------


class DocumentService:
    def __init__(
        self,
        store: DocumentStore,
        catalog: Catalog,
        keys: DocumentKeyring,
        anchors: AnchorReader,
        chain: ChainAccess,
        *,
        max_upload_bytes: int,
        compat_version: str,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.keys = keys
        self.anchors = anchors
        self.chain = chain
        self.max_upload_bytes = max_upload_bytes
        self.compat_version = compat_version
        self.retention = RetentionService(store, anchors)

    # -- upload and anchor ----------------------------------------------------------------------

    def upload(
        self, principal: Principal, form: UploadForm, content: IO[bytes], idempotency_key: str | None = None
    ) -> Uploaded:
        """Stores the document (sealed first when confidential), submits its ``AnchorDocument``
        through the outbox, and records what only the gateway knows. GS1 data and the subject are
        validated before anything is stored."""
        assert principal.partner_id is not None
        subject = "0x" + resolve(form.operation(_PLACEHOLDER_CID)).args[0].hex()
        head = content.read(SNIFF_BYTES)
        content.seek(0)
        declared = safe_media_type(form.content_type)
        content_type = declared if declared and declared != OCTET_STREAM else sniff(head)
        counting = _Counting(content)
        recipients: tuple[int, ...] = ()
        if form.confidential:
            from gateway.documents.envelope import seal

            recipients = self._recipients(principal, form)
            public = {pid: (key_id(pub), pub) for pid in recipients for pub in (self.keys.public_key(pid),)}
            _, sealed = seal(counting, public)
            added = self.store.add(sealed, cid_version=form.cid_version)
        else:
            added = self.store.add(counting, cid_version=form.cid_version)
        raw_leaves = form.cid_version == 1
        submission = self.chain.outbox.submit(principal, form.operation(str(added.cid)), idempotency_key)
        self.catalog.record(
            CatalogEntry(str(added.cid), form.confidential, content_type, form.filename, counting.size, added.size,
                         form.cid_version, raw_leaves, principal.partner_id, recipients),
            CatalogAnchor(str(added.cid), subject, form.document_type, submission.id, principal.partner_id),
        )  # fmt: skip
        return Uploaded(added.cid, counting.size, added.size, form.confidential, content_type, recipients, submission)

    def _recipients(self, principal: Principal, form: UploadForm) -> tuple[int, ...]:
        """The uploader, the partners the chain relates to the subject now (shipment sender and
        receiver; object custodian, owner and pending receiver), those named in the form, and
        every auditor the gateway serves."""
        assert principal.partner_id is not None
        ledger = self.chain.ledger
        for partner_id in form.recipients:
            try:
                ledger.partner(partner_id)
            except ContractRevert:
                raise InvalidUpload(f"recipient {partner_id} is not a registered partner", field="recipients") from None
        ids = {principal.partner_id, *form.recipients}
        if form.shipment_id is not None:
            shipment = ledger.shipment(form.shipment_id)
            ids |= {shipment.sender, shipment.receiver}
        elif form.object is not None:
            view = ledger.custody_of(object_id(form.object.urn()))
            ids |= {view.custodian, view.owner, view.pending_receiver}
        ids |= self.auditors()
        ids.discard(0)
        return tuple(sorted(ids))

    def auditors(self) -> set[int]:
        return {
            row.partner_id
            for row in self.chain.api_keys.list()
            if row.kind == "auditor" and row.revoked_at is None and row.partner_id
        }

    # -- reading --------------------------------------------------------------------------------

    def envelope(self, cid: Cid) -> Envelope:
        """Whether ``cid`` is a confidential envelope, from its first bytes (and its recipients)."""
        from gateway.documents.envelope import MAGIC, read_header

        try:
            head = b"".join(self.store.cat(cid, 0, 4096))
        except NotAFile:
            return Envelope(False)
        if not head.startswith(MAGIC):
            return Envelope(False, head=head)
        header = read_header(head)
        if header is None:  # a long recipient list: read the whole header
            length = int.from_bytes(head[8:12], "big")
            header = read_header(b"".join(self.store.cat(cid, 0, 12 + length)))
        if header is None:
            raise IntegrityError(f"{cid} starts like an envelope but its header is cut short", cid=str(cid))
        return Envelope(True, tuple(header.partner_ids), head)

    def reader_of(self, envelope: Envelope, principal: Principal | None) -> int | None:
        """The partner id a principal reads a confidential document as (None for public ones)."""
        if not envelope.confidential:
            return None
        if principal is None:
            raise AuthenticationRequired("This document is confidential: send `Authorization: Bearer <API key>`.")
        if principal.kind in ("partner", "auditor") and principal.partner_id in envelope.recipients:
            return principal.partner_id
        raise AccessDenied("This document is confidential and your key is not among its recipients.")

    def check_readable(self, cid: CidLike, principal: Principal | None, *, lenient: bool = False) -> Envelope:
        """For the raw (IPFS) read paths: refuses confidential content to non-recipients.

        ``lenient``: content that cannot be read as a file from its start (a bare internal block,
        a directory, an incomplete DAG) is no envelope root, so the operation itself decides."""
        try:
            envelope = self.envelope(Cid.parse(cid))
        except (NotAFile, MalformedBlock, BlockNotFound):
            if not lenient:
                raise
            return Envelope(False)
        self.reader_of(envelope, principal)
        return envelope

    def confirmed_anchors(self, cid: Cid, subjects: Sequence[str] | None = None) -> list[VerifiedAnchor]:
        """Anchors of ``cid`` that ``documentAnchoredAt`` confirms on chain now (one ``eth_call``
        per subject); an empty list means not anchored. The subjects tried are ``subjects`` when
        given, else those the catalog and the indexer's ``idx_documents`` know of — and, when
        none of those is confirmed (or there is no index), those of the chain's
        ``DocumentAnchored`` events, so a lagging index never makes an anchor look missing."""
        if subjects is not None:
            return self._confirm(cid, subjects)
        known = list(dict.fromkeys(a.subject for a in self.catalog.anchors(str(cid))))
        indexed = self.anchors.indexed_anchors_of(cid)
        if indexed is not None:  # the read model suggests subjects; the chain confirms them
            known = list(dict.fromkeys(known + [a.subject for a in indexed]))
            verified = self._confirm(cid, known)
            if verified:
                return verified
            # nothing confirmed: the index may lag the head, so the chain's own events decide
            from_events = [a.subject for a in self.anchors.anchors_of(cid) if a.subject not in known]
            return self._confirm(cid, list(dict.fromkeys(from_events)))
        from_events = [a.subject for a in self.anchors.anchors_of(cid)]
        return self._confirm(cid, list(dict.fromkeys(known + from_events)))

    def _confirm(self, cid: Cid, subjects: Sequence[str]) -> list[VerifiedAnchor]:
        verified = []
        for subject in subjects:
            anchored_at = self.anchors.anchored_at(subject, cid)
            if anchored_at:
                verified.append(VerifiedAnchor(subject, document_id(subject, cid), anchored_at))
        return verified

    def verified_anchors(self, cid: Cid) -> list[VerifiedAnchor]:
        """Anchors of ``cid`` confirmed by ``documentAnchoredAt`` now; ``NotAnchored`` if none."""
        verified = self.confirmed_anchors(cid)
        if not verified:
            pending = [a.submission_id for a in self.catalog.anchors(str(cid)) if a.submission_id]
            detail = f" (submission {', '.join(pending)} will anchor it)" if pending else ""
            raise NotAnchored(f"{cid} has no anchor on chain{detail}; unanchored content is not served here.",
                              pending=pending)  # fmt: skip
        return verified

    def open(self, cid_text: str, principal: Principal | None) -> OpenedDocument:
        """Access, anchor and content checks (module docstring), then the plaintext stream."""
        cid = Cid.parse(cid_text)
        envelope = self.envelope(cid)
        reader = self.reader_of(envelope, principal)
        anchors = self.verified_anchors(cid)
        entry = self.catalog.get(str(cid))
        stat = self.store.stat(cid)
        self.verify_content(cid, entry)
        body: Iterator[bytes] = self.store.cat(cid)
        size = stat.size
        if reader is not None:
            from gateway.documents.envelope import open_envelope, read_header

            header = read_header(envelope.head)
            size = header.plaintext_size(stat.size) if header else (entry.size if entry else 0)
            body = open_envelope(body, lambda _: (reader, self.keys.private_key(reader)))
        content_type = (entry.content_type if entry else None) or sniff(envelope.head[:SNIFF_BYTES])
        return OpenedDocument(cid, content_type, size, entry.filename if entry else None, envelope.confidential,
                              anchors, body)  # fmt: skip

    def verify_content(self, cid: Cid, entry: CatalogEntry | None) -> None:
        """Reads the whole content and re-imports it into a CID with the parameters it was added
        with: a damaged or missing block raises on the way, and any other difference shows as a
        different CID. For a DAG not built here (no catalog entry) whose layout differs from
        Kubo's defaults, the embedded store's per-block verification is the proof instead."""
        version, raw_leaves = (entry.cid_version, entry.raw_leaves) if entry else self._layout_of(cid)
        recomputed = import_file(self.store.cat(cid), _NullSink(), cid_version=version, raw_leaves=raw_leaves)
        if recomputed.cid.multihash != cid.multihash or recomputed.cid.codec != cid.codec:
            if entry is None and isinstance(self.store, EmbeddedDocumentStore):
                return  # every block was hash-checked while reading; only the chunking differs
            raise IntegrityError(f"the content read back does not hash to {cid} (got {recomputed.cid})", cid=str(cid))

    def _layout_of(self, cid: Cid) -> tuple[int, bool]:
        """CID version and raw-leaves of a stored DAG, from its root and first leaf."""
        current = cid
        getter: Any = getattr(self.store, "get_block", None)
        for _ in range(16):
            if current.codec == RAW:
                return cid.version, True
            if getter is None:
                break
            links = decode_pbnode(getter(current)).links
            if not links:
                return cid.version, False
            current = links[0].cid
        return cid.version, cid.version == 1

    def verify(self, cid: CidLike, *, subject: str | None = None) -> DocumentVerification:
        """Verifies one document end to end, without serving it and without access checks (for
        audits, the ``verify`` command and operators): the on-chain anchor (``documentAnchoredAt``
        for ``subject``, or for every subject known of the CID) and the stored bytes (every block
        read, re-hashed, and the content re-imported into the same CID). A confidential document
        is verified as its envelope, which is what its CID names; nothing is decrypted.

        Problems are reported in the result, never raised, except a ``cid`` that is not a CID
        (``InvalidCID``) or a chain that cannot be reached."""
        parsed = Cid.parse(cid)
        anchors = self.confirmed_anchors(parsed, None if subject is None else [subject])
        confidential = False
        problem: DocumentStoreError | None = None
        try:
            confidential = self.envelope(parsed).confidential
            self.verify_content(parsed, self.catalog.get(str(parsed)))
        except DocumentStoreError as exc:
            problem = exc
        return DocumentVerification(
            str(parsed), anchors, confidential,
            content="intact" if problem is None else problem.code,
            detail=None if problem is None else str(problem),
        )  # fmt: skip

    # -- metadata ---------------------------------------------------------------------------------

    def info(self, cid_text: str, principal: Principal | None) -> DocumentInfo:
        """What is known of a CID: on-chain anchors (public facts), stored or not, and — for those
        allowed to read it — name, media type and recipients. Pending anchors come from the catalog."""
        cid = Cid.parse(cid_text)
        entry = self.catalog.get(str(cid))
        try:
            envelope = self.envelope(cid)
            stored, size = True, self.store.stat(cid).size
        except BlockNotFound:
            envelope, stored, size = Envelope(bool(entry and entry.confidential)), False, None
        allowed = True
        if envelope.confidential:
            try:
                self.reader_of(envelope, principal)
            except (AccessDenied, AuthenticationRequired):
                allowed = False
        anchors = self.anchors.anchors_of(cid)
        on_chain = {a.subject for a in anchors}
        pending = []
        for anchor in self.catalog.anchors(str(cid)):
            if anchor.subject in on_chain:
                continue
            status = None
            if anchor.submission_id and principal is not None and principal.partner_id == anchor.partner_id:
                status = self.chain.outbox.get(principal, anchor.submission_id).status
            pending.append({"subject": anchor.subject, "document_type": anchor.document_type,
                            "submission_id": anchor.submission_id, "status": status})  # fmt: skip
        if envelope.confidential and entry and allowed:
            size = entry.size
        return DocumentInfo(
            str(cid), stored, envelope.confidential, size if allowed else None,
            entry.content_type if entry and allowed else None, entry.filename if entry and allowed else None,
            list(envelope.recipients) if envelope.confidential and allowed else None, anchors, pending,
        )  # fmt: skip

    def media_type(self, cid: Cid, envelope: Envelope) -> str:
        """For raw (path gateway) responses: ciphertext is octet-stream, else declared or sniffed."""
        if envelope.confidential:
            return OCTET_STREAM
        entry = self.catalog.get(str(cid))
        return (entry.content_type if entry and entry.content_type else None) or sniff(envelope.head[:SNIFF_BYTES])

    # -- the IPFS compatibility API --------------------------------------------------------------

    def add_raw(
        self, source: ByteSource, *, cid_version: int, raw_leaves: bool | None, pin: bool, only_hash: bool
    ) -> AddResult:
        """``/api/v0/add``: store (or only hash) bytes as they are; they are public content."""
        if only_hash:
            imported = import_file(source, _NullSink(), cid_version=cid_version, raw_leaves=raw_leaves)
            return AddResult(imported.cid, imported.size, imported.dag_size)
        if isinstance(self.store, EmbeddedDocumentStore):
            return self.store.add(source, cid_version=cid_version, raw_leaves=raw_leaves, pin=pin)
        store: Any = self.store
        result: AddResult = store.add(source, cid_version=cid_version, raw_leaves=raw_leaves, pin=pin)
        return result

    def export_stream(self, cid: Cid) -> Iterator[bytes]:
        """``dag export`` as a stream; the root is read (and checked) before this returns."""
        walker: Any = self.store
        if hasattr(walker, "iter_dag_blocks"):
            blocks = walker.iter_dag_blocks(cid)
            first = next(blocks)
            return iter_car([cid], itertools.chain([first], blocks))
        spool = tempfile.TemporaryFile()  # noqa: SIM115  # closed by from_spool; a remote store: its export, spooled, then streamed
        try:
            self.store.export_car(cid, spool)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise

        def from_spool() -> Iterator[bytes]:
            with spool:
                while piece := spool.read(1 << 20):
                    yield piece

        return from_spool()

    def unpin(self, cid: CidLike) -> None:
        self.retention.unpin(cid)

    def gc(self, on_remove: Any = None) -> GcResult:
        self.retention.ensure_pinned()
        if on_remove is not None and isinstance(self.store, EmbeddedDocumentStore):
            return self.store.gc(on_remove)
        return self.store.gc()
