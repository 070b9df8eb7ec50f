"""``DocumentStore`` over a Kubo node's RPC API (``CUSTODY_IPFS_API_URL``, e.g. ``http://127.0.0.1:5001``).

Client choice: a small httpx client, not ipfshttpclient. ipfshttpclient 0.7.0 — its last
release (2021) — checks the daemon's version in ``connect()`` and refuses anything
``>= 0.8.0``, which is every Kubo released since; it would "work" only against a server that
claims an old version (as the gateway's own compatibility API does, for that reason). The ten
RPC calls this backend needs are plain ``POST /api/v0/<cmd>?arg=…`` requests, so speaking them
directly gives one code path for every Kubo version, streaming in both directions (an upload
is a generator, a ``cat`` an iterator over the response), explicit timeouts, and typed errors.
ipfshttpclient stays a test-only dependency: an independent client to check the compatibility
API against.

Nothing is trusted blindly: ``get_block`` re-hashes what the node returns; whole-document
reads are re-verified by the documents service, whichever backend served them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import httpx

from gateway.documents.cid import Cid, CidLike, block_cid
from gateway.documents.compat import error_from_response
from gateway.documents.errors import BlockNotFound, IntegrityError, InvalidRange, RemoteError
from gateway.documents.interface import AddResult, GcResult, ImportResult, StatResult, Writable
from gateway.documents.unixfs import CHUNK_SIZE, ByteSource, iter_chunks

__all__ = ["KuboDocumentStore"]


def _multipart(boundary: str, parts: Iterable[bytes], filename: str, content_type: str) -> Iterator[bytes]:
    yield (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    yield from parts
    yield f"\r\n--{boundary}--\r\n".encode()


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


class KuboDocumentStore:
    """The ``DocumentStore`` protocol spoken to a Kubo node (or to a custody gateway's
    ``/api/v0``). ``token`` is sent as ``Authorization: Bearer`` (Kubo's ``API.Authorizations``,
    or a gateway API key). ``max_add_size`` is checked while uploading, before the node sees
    the excess. Every method blocks on the network: async callers use a worker thread."""

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        timeout: float = 120.0,
        max_add_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_add_size = max_add_size
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=f"{self.api_url}/api/v0",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _send(
        self, command: str, params: dict[str, Any] | None = None, *, content: Any = None, headers: Any = None
    ) -> httpx.Response:
        """Sends one RPC call and returns the open (streaming) response, or raises its typed error."""
        request = self._client.build_request("POST", f"/{command}", params=params, content=content, headers=headers)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach the IPFS node at {self.api_url}: {exc}") from exc
        if response.is_success:
            return response
        try:
            body = response.read()
        finally:
            response.close()
        raise error_from_response(response.status_code, response.headers, body)

    def _call(self, command: str, params: dict[str, Any] | None = None, **kwargs: Any) -> bytes:
        response = self._send(command, params, **kwargs)
        try:
            return response.read()
        except httpx.HTTPError as exc:
            raise RemoteError(f"the IPFS node at {self.api_url} broke off its answer: {exc}") from exc
        finally:
            response.close()

    def _stream(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise RemoteError(f"the IPFS node at {self.api_url} broke off its answer: {exc}") from exc
        finally:
            response.close()

    def version(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._call("version"))
        return result

    def close(self) -> None:
        self._client.close()

    # -- DocumentStore --------------------------------------------------------------------------

    def add(
        self,
        stream: ByteSource,
        *,
        cid_version: int = 0,
        raw_leaves: bool | None = None,
        pin: bool = True,
        only_hash: bool = False,
        filename: str = "blob",
    ) -> AddResult:
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for chunk in iter_chunks(stream, CHUNK_SIZE, max_size=self.max_add_size):
                size += len(chunk)
                yield chunk

        boundary = secrets.token_hex(16)
        params: dict[str, Any] = {"cid-version": cid_version, "pin": str(pin).lower(), "quieter": "true"}
        if raw_leaves is not None:
            params["raw-leaves"] = str(raw_leaves).lower()
        if only_hash:
            params["only-hash"] = "true"
        body = _multipart(boundary, counted(), filename, "application/octet-stream")
        lines = _lines(
            self._call(
                "add", params, content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
        )
        final = [line for line in lines if "Hash" in line]
        if not final:
            raise RemoteError(f"the IPFS node's add answer names no CID: {lines!r}")
        return AddResult(Cid.parse(final[-1]["Hash"]), size, int(final[-1].get("Size", 0)))

    def cat(self, cid: CidLike, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise InvalidRange(f"offset and length must not be negative (got {offset}, {length})")
        params: dict[str, Any] = {"arg": str(Cid.parse(cid)), "offset": offset}
        if length is not None:
            if length == 0:
                return iter(())
            params["length"] = length
        return self._stream(self._send("cat", params))  # the status (root checked) arrives first

    def get_block(self, cid: CidLike) -> bytes:
        parsed = Cid.parse(cid)
        data = self._call("block/get", {"arg": str(parsed)})
        if block_cid((data,), version=parsed.version, codec=parsed.codec).multihash != parsed.multihash:
            raise IntegrityError(f"the IPFS node returned bytes that do not hash to {parsed}", cid=str(parsed))
        return data

    def pin(self, cid: CidLike) -> None:
        self._call("pin/add", {"arg": str(Cid.parse(cid))})

    def unpin(self, cid: CidLike) -> None:
        self._call("pin/rm", {"arg": str(Cid.parse(cid))})

    def pins(self) -> list[Cid]:
        body = self._call("pin/ls", {"type": "recursive"})
        cids: list[Cid] = []
        for line in _lines(body):
            if "Keys" in line:  # the classic single object
                cids.extend(Cid.parse(key) for key in line["Keys"] or {})
            elif "Cid" in line:  # stream=true style lines
                cids.append(Cid.parse(line["Cid"]))
        return cids

    def has(self, cid: CidLike) -> bool:
        try:
            self._call("block/stat", {"arg": str(Cid.parse(cid)), "offline": "true"})
        except BlockNotFound:
            return False
        return True

    def gc(self) -> GcResult:
        """Kubo reports the removed blocks, not their sizes: ``freed_bytes`` is 0 here."""
        removed = 0
        for line in _lines(self._call("repo/gc")):
            if line.get("Error"):
                raise RemoteError(f"the IPFS node's GC failed: {line['Error']}")
            if "Key" in line:
                removed += 1
        return GcResult(removed, 0)

    def export_car(self, cid: CidLike, out: Writable) -> None:
        response = self._send("dag/export", {"arg": str(Cid.parse(cid))})
        for chunk in self._stream(response):
            out.write(chunk)

    def import_car(self, stream: BinaryIO) -> ImportResult:
        """Streams the CAR to the node. The section count comes from the node's stats (or, from
        a node without them, is reported as 0); roots come from the node's answer."""
        boundary = secrets.token_hex(16)

        def chunks() -> Iterator[bytes]:
            while piece := stream.read(CHUNK_SIZE):
                yield piece

        body = _multipart(boundary, chunks(), "import.car", "application/vnd.ipld.car")
        lines = _lines(
            self._call(
                "dag/import",
                {"pin-roots": "true", "stats": "true"},
                content=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
        )
        roots: list[Cid] = []
        blocks = 0
        for line in lines:
            root = line.get("Root")
            if root:
                if root.get("PinErrorMsg"):
                    raise BlockNotFound(f"CAR root {root['Cid']['/']} could not be pinned: {root['PinErrorMsg']}")
                roots.append(Cid.parse(root["Cid"]["/"]))
            stats = line.get("Stats")
            if stats:
                blocks = int(stats.get("BlockCount", 0))
        return ImportResult(tuple(roots), blocks)

    def stat(self, cid: CidLike) -> StatResult:
        parsed = Cid.parse(cid)
        info = json.loads(self._call("files/stat", {"arg": f"/ipfs/{parsed}"}))
        return StatResult(
            parsed, str(info.get("Type", "file")), int(info.get("Size", 0)), int(info.get("CumulativeSize", 0)),
            int(info.get("Blocks", 0)),
        )  # fmt: skip
