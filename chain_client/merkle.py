"""Merkle trees of event hashes, verifiable by ``CustodyLedger.verifyEventInclusion``.

Leaves and pair hashing follow OpenZeppelin's standard tree: leaf =
keccak256(keccak256(abi.encode(bytes32 eventHash))) (double hashing rules out second
preimages), parents hash their two children in sorted order, so a proof is just the siblings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

__all__ = ["EventMerkleTree", "leaf_hash"]


def leaf_hash(event_hash: bytes) -> bytes:
    if len(event_hash) != 32:
        raise ValueError("an event hash has 32 bytes")
    return keccak(keccak(event_hash))  # abi.encode(bytes32) is the 32 bytes themselves


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class EventMerkleTree:
    """A tree over event hashes; build with :meth:`build`."""

    layers: tuple[tuple[bytes, ...], ...]
    positions: dict[bytes, int]

    @classmethod
    def build(cls, event_hashes: Sequence[bytes]) -> EventMerkleTree:
        if not event_hashes:
            raise ValueError("a Merkle tree needs at least one event")
        leaves = tuple(sorted({leaf_hash(h) for h in event_hashes}))
        layers = [leaves]
        while len(layers[-1]) > 1:
            level = layers[-1]
            parents = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                parents.append(level[-1])  # an odd node moves up unchanged
            layers.append(tuple(parents))
        return cls(tuple(layers), {leaf: i for i, leaf in enumerate(leaves)})

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    def proof(self, event_hash: bytes) -> list[bytes]:
        """Sibling hashes from the leaf of ``event_hash`` up to the root."""
        index = self.positions.get(leaf_hash(event_hash))
        if index is None:
            raise KeyError("event hash not in this tree")
        proof = []
        for level in self.layers[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index //= 2
        return proof

    @staticmethod
    def verify(root: bytes, event_hash: bytes, proof: Sequence[bytes]) -> bool:
        node = leaf_hash(event_hash)
        for sibling in proof:
            node = _pair(node, sibling)
        return node == root
