"""A generated four-tier supply network on a real ledger, recording its own ground truth.

Tiers: two suppliers → a manufacturer → a distributor → a pharmacy and a retailer. The generator
drives the ledger (as each partner, with its own key) and, independently of the indexer, keeps a
record of what it did: which object derives from which (split, transformation, lot membership),
which container held which object and when, who held each object and at which GLNs. The expected
answers of a trace or a recall are computed from that record alone (:meth:`SupplyNet.expected_trace`,
:meth:`SupplyNet.expected_recall`).

The network (one per :func:`build_supply_net` call, all identifiers fresh)::

    supplier1: lot A ──split──> A1, A2          supplier2: lot B
    A1 ─ship─> manufacturer <─ship─ B
    manufacturer: transform [A1, B] ─> product lot P; items I1..I12 in lot P; lot Q with items J1..J4
                  cases C1 = I1..4, C2 = I5..8, C3 = I9..12, C4 = J1..4; pallet PL1 = [C1, C2, C4]
    PL1, C3 ─ship─> distributor: unpacks PL1, packs pallet PL2 = [C3, C4]
    C1 ─ship─> pharmacy           C2 ─ship─> retailer

Each phase runs a few seconds of chain time after the previous one (``evm_increaseTime``), so time
windows can cut between phases.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from chain_client import gs1
from chain_client.events import GenealogyOutputProduced, ItemRegistered, LogisticUnitRegistered, LotRegistered
from chain_client.ledger import CustodyLedgerClient, TxResult
from chain_client.models import GenealogyInput, LotOutput, PartnerRole, Registration, ShipmentInfo, Status
from chain_client.node import rpc_call
from chain_client.signers import LocalSigner

__all__ = ["PHASE_GAP", "Actor", "SupplyNet", "build_supply_net", "fund", "new_gln", "register_actors"]

COMPANY_PREFIX = "0614141"
PHASE_GAP = 30  # seconds of chain time between phases

_numbers = itertools.count(1)


def _n() -> int:
    return next(_numbers)


def new_gln() -> str:
    body = f"0614144{_n():05d}"
    return body + str(gs1.gs1_check_digit(body))


def fund(rpc_url: str, address: str) -> None:
    """Gives a fresh account ether on the dev node (it sends its own transactions)."""
    rpc_call(rpc_url, "anvil_setBalance", [address, hex(10**20)])


@dataclass
class Actor:
    name: str
    role: PartnerRole
    signer: LocalSigner
    gln: str
    id: int = 0
    client: CustodyLedgerClient | None = None

    @property
    def ledger(self) -> CustodyLedgerClient:
        assert self.client is not None
        return self.client


TIERS: list[tuple[str, PartnerRole]] = [
    ("supplier1", PartnerRole.MANUFACTURER),
    ("supplier2", PartnerRole.MANUFACTURER),
    ("manufacturer", PartnerRole.MANUFACTURER),
    ("distributor", PartnerRole.DISTRIBUTOR),
    ("pharmacy", PartnerRole.DISPENSER),
    ("retailer", PartnerRole.DISPENSER),
]


def register_actors(admin: CustodyLedgerClient, rpc_url: str, tag: str) -> dict[str, Actor]:
    """Registers the six partners with fresh, funded keys through the ledger's admin."""
    actors: dict[str, Actor] = {}
    for name, role in TIERS:
        actor = Actor(f"{name}-{tag}", role, LocalSigner.generate(), new_gln())
        fund(rpc_url, actor.signer.address)
        result = admin.register_partner(actor.name, role, [actor.signer.address], [actor.gln])
        actor.id = result.events[0].partner_id  # type: ignore[attr-defined]
        actors[name] = actor
    return actors


@dataclass(frozen=True)
class Relation:
    source: str
    target: str
    relation: str  # split | transform | lot_member | packed_in
    at: dt.datetime
    unpacked_at: dt.datetime | None = None


@dataclass(frozen=True)
class Visit:
    """An object was with ``partner`` (at ``gln``, if known) at ``at``."""

    object_id: str
    partner: int
    gln: str | None
    at: dt.datetime


@dataclass(frozen=True)
class ExpectedTrace:
    depths: dict[str, int]
    partners: set[int]
    glns: set[str]


@dataclass
class SupplyNet:
    rpc_url: str
    actors: dict[str, Actor]
    tag: str
    names: dict[str, str] = field(default_factory=dict)  # our name (A, I1, PL2…) -> object id
    epcs: dict[str, str] = field(default_factory=dict)  # object id -> EPC URN
    relations: list[Relation] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    registrant: dict[str, int] = field(default_factory=dict)
    custodian: dict[str, int] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)  # open containment
    phase_started: list[dt.datetime] = field(default_factory=list)
    production_day: dt.date = dt.date(2026, 2, 1)

    # -- names ------------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        return self.names[name]

    def id_set(self, *names: str) -> set[str]:
        return {self.names[n] for n in names}

    def name_of(self, object_id: str) -> str:
        return next(n for n, oid in self.names.items() if oid == object_id)

    # -- chain plumbing ---------------------------------------------------------------------------

    def _time(self, result: TxResult) -> dt.datetime:
        w3 = self.actors["manufacturer"].ledger.sender.w3
        block = w3.eth.get_block(result.receipt.block_number)
        return dt.datetime.fromtimestamp(int(block["timestamp"]), dt.UTC)

    def next_phase(self) -> None:
        rpc_call(self.rpc_url, "evm_increaseTime", [PHASE_GAP])
        rpc_call(self.rpc_url, "evm_mine", [])
        w3 = self.actors["manufacturer"].ledger.sender.w3
        self.phase_started.append(dt.datetime.fromtimestamp(int(w3.eth.get_block("latest")["timestamp"]), dt.UTC))

    def _contents(self, object_id: str) -> list[str]:
        """The object and everything packed in it now."""
        out, queue = [object_id], deque([object_id])
        while queue:
            top = queue.popleft()
            for child, parent in self.parent.items():
                if parent == top:
                    out.append(child)
                    queue.append(child)
        return out

    def _visit(self, object_id: str, partner: int, gln: str | None, at: dt.datetime) -> None:
        for oid in self._contents(object_id):
            self.custodian[oid] = partner
            self.visits.append(Visit(oid, partner, gln, at))

    def _registered(self, name: str, object_id: str, epc: str, by: Actor, at: dt.datetime, origin: str | None) -> None:
        self.names[name] = object_id
        self.epcs[object_id] = epc
        self.registrant[object_id] = by.id
        self._visit(object_id, by.id, origin, at)

    # -- operations -------------------------------------------------------------------------------

    def lgtin(self, item_ref: str, lot: str) -> str:
        return f"urn:epc:class:lgtin:{COMPANY_PREFIX}.{item_ref}.{lot}"

    def sgtin(self, item_ref: str, serial: str) -> str:
        return f"urn:epc:id:sgtin:{COMPANY_PREFIX}.{item_ref}.{serial}"

    def register_lot(self, name: str, by: Actor, item_ref: str, quantity: int, unit: str = "KGM",
                     production: dt.date | None = None) -> str:  # fmt: skip
        lot = f"{name}{self.tag}"
        epc = self.lgtin(item_ref, lot)
        reg = Registration(epc=epc, lot=lot, production_date=production, origin_gln=by.gln)
        result = by.ledger.register_lot(LotOutput(reg, quantity, unit))
        self._registered(name, result.of(LotRegistered)[0].object_id, epc, by, self._time(result), by.gln)
        return self.names[name]

    def register_items(self, names: list[str], by: Actor, item_ref: str, lot_name: str) -> list[str]:
        lot = f"{lot_name}{self.tag}"
        epcs = [self.sgtin(item_ref, f"{n}{self.tag}") for n in names]
        result = by.ledger.register_items([Registration(epc=e, lot=lot, origin_gln=by.gln) for e in epcs])
        at = self._time(result)
        lot_id = self.names[lot_name]
        for name, epc, event in zip(names, epcs, result.of(ItemRegistered), strict=True):
            self._registered(name, event.object_id, epc, by, at, by.gln)
            self.relations.append(Relation(lot_id, event.object_id, "lot_member", at))
        return [self.names[n] for n in names]

    def register_unit(self, name: str, by: Actor) -> str:
        ref = f"{_n():09d}"
        body = f"1{COMPANY_PREFIX}{ref}"
        epc = f"urn:epc:id:sscc:{COMPANY_PREFIX}.1{ref}"
        assert gs1.Sscc(body + str(gs1.gs1_check_digit(body)), len(COMPANY_PREFIX)).epc_urn == epc
        result = by.ledger.register_logistic_units([epc])
        self._registered(name, result.of(LogisticUnitRegistered)[0].object_id, epc, by, self._time(result), None)
        return self.names[name]

    def split(self, lot_name: str, by: Actor, outputs: list[tuple[str, int]], item_ref: str) -> None:
        outs = []
        for name, quantity in outputs:
            lot = f"{name}{self.tag}"
            outs.append(LotOutput(Registration(epc=self.lgtin(item_ref, lot), lot=lot, origin_gln=by.gln), quantity,
                                  "KGM"))  # fmt: skip
        result = by.ledger.split_lot(self.names[lot_name], outs)
        at = self._time(result)
        for (name, _), out, event in zip(outputs, outs, result.of(GenealogyOutputProduced), strict=True):
            self._registered(name, event.output, out.registration.epc, by, at, by.gln)
            self.relations.append(Relation(self.names[lot_name], event.output, "split", at))

    def transform(self, inputs: list[tuple[str, int]], output: str, by: Actor, item_ref: str, quantity: int,
                  production: dt.date | None = None) -> None:  # fmt: skip
        lot = f"{output}{self.tag}"
        reg = Registration(epc=self.lgtin(item_ref, lot), lot=lot, production_date=production, origin_gln=by.gln)
        result = by.ledger.transform(
            [GenealogyInput(self.names[n], q) for n, q in inputs], [LotOutput(reg, quantity, "EA")]
        )
        at = self._time(result)
        produced = result.of(GenealogyOutputProduced)[0].output
        self._registered(output, produced, reg.epc, by, at, by.gln)
        for name, _ in inputs:
            self.relations.append(Relation(self.names[name], produced, "transform", at))

    def pack(self, parent: str, children: list[str], by: Actor) -> None:
        result = by.ledger.pack(self.names[parent], [self.names[c] for c in children])
        at = self._time(result)
        for child in children:
            self.parent[self.names[child]] = self.names[parent]
            self.relations.append(Relation(self.names[child], self.names[parent], "packed_in", at))
        holder = self.custodian[self.names[parent]]
        for child in children:  # one history row, for the child; its contents follow the container
            self.visits.append(Visit(self.names[child], holder, None, at))
            for oid in self._contents(self.names[child]):
                self.custodian[oid] = holder

    def unpack(self, parent: str, children: list[str], by: Actor) -> None:
        result = by.ledger.unpack(self.names[parent], [self.names[c] for c in children])
        at = self._time(result)
        for child in children:
            cid = self.names[child]
            del self.parent[cid]
            index = next(
                i for i, r in enumerate(self.relations)
                if r.relation == "packed_in" and r.source == cid and r.target == self.names[parent]
                and r.unpacked_at is None
            )  # fmt: skip
            r = self.relations[index]
            self.relations[index] = Relation(r.source, r.target, r.relation, r.at, at)
            self.visits.append(Visit(cid, by.id, None, at))  # one history row, for the child
            for oid in self._contents(cid):
                self.custodian[oid] = by.id

    def ship_and_receive(self, names: list[str], sender: Actor, receiver: Actor) -> None:
        ids = [self.names[n] for n in names]
        info = ShipmentInfo(receiver.id, sender.gln, receiver.gln, transfer_ownership=True)
        shipped = sender.ledger.ship(ids, info)
        at = self._time(shipped)
        for oid in ids:
            self._visit(oid, sender.id, sender.gln, at)
        received = receiver.ledger.receive(ids, gln=receiver.gln)
        at = self._time(received)
        for oid in ids:
            self._visit(oid, receiver.id, receiver.gln, at)

    def set_status(self, names: list[str], status: Status, by: Actor, reason: str) -> dt.datetime:
        result = by.ledger.set_status([self.names[n] for n in names], status, reason)
        at = self._time(result)
        for n in names:  # the history row of a status change names the custodian (the container's)
            self.visits.append(Visit(self.names[n], self.custodian[self.names[n]], None, at))
        return at

    # -- ground truth -----------------------------------------------------------------------------

    def _in_window(self, r: Relation, since: dt.datetime | None, until: dt.datetime | None) -> bool:
        if r.relation == "packed_in":
            return (until is None or r.at <= until) and (
                since is None or r.unpacked_at is None or r.unpacked_at >= since
            )
        return (since is None or r.at >= since) and (until is None or r.at <= until)

    def expected_trace(
        self,
        root: str,
        direction: str,
        *,
        max_depth: int | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        containment: bool = True,
    ) -> ExpectedTrace:
        """Breadth-first over the recorded relations: what a trace of ``root`` must answer."""
        start = self.names[root]
        depths = {start: 0}
        frontier = [start]
        depth = 0
        while frontier and (max_depth is None or depth < max_depth):
            depth += 1
            reached = []
            for r in self.relations:
                if not self._in_window(r, since, until) or (r.relation == "packed_in" and not containment):
                    continue
                if r.relation == "packed_in" or direction == "forward":
                    here, there = r.source, r.target
                else:
                    here, there = r.target, r.source
                if here in frontier and there not in depths:
                    depths[there] = depth
                    reached.append(there)
            frontier = reached
        visits = [
            v for v in self.visits
            if v.object_id in depths and (since is None or v.at >= since) and (until is None or v.at <= until)
        ]  # fmt: skip
        return ExpectedTrace(depths, {v.partner for v in visits}, {v.gln for v in visits if v.gln})

    def expected_recall(self, root: str) -> tuple[set[str], set[str], set[str], dict[int, set[str]]]:
        """Subject, container and co-packed objects of a recall of ``root``, and what each partner holds."""
        subjects = set(self.expected_trace(root, "forward", containment=False).depths)
        containers: set[str] = set()
        for oid in subjects:
            parent = self.parent.get(oid)
            while parent is not None:
                containers.add(parent)
                parent = self.parent.get(parent)
        tops = {c for c in containers if c not in self.parent}
        packed = {oid for top in tops for oid in self._contents(top)}
        co_packed = packed - subjects - containers
        holdings: dict[int, set[str]] = {}
        for oid in subjects | containers | co_packed:
            holdings.setdefault(self.custodian[oid], set()).add(oid)
        return subjects, containers, co_packed, holdings

    def partners_named(self, ids: Iterable[int]) -> set[str]:
        by_id = {a.id: key for key, a in self.actors.items()}
        return {by_id[i] for i in ids}


def build_supply_net(actors: dict[str, Actor], rpc_url: str, tag: str | None = None) -> SupplyNet:
    """Runs the network of the module docstring on the ledger the actors' clients talk to."""
    number = _n()
    tag = tag or f"x{number}"
    net = SupplyNet(rpc_url, actors, tag)
    net.production_day = dt.date(2026, 2, 1) + dt.timedelta(days=number)  # the product lot's, unique to this net
    s1, s2, m = actors["supplier1"], actors["supplier2"], actors["manufacturer"]
    d, ph, rt = actors["distributor"], actors["pharmacy"], actors["retailer"]

    net.next_phase()  # 0: raw materials and the split
    net.register_lot("A", s1, "100001", 1000, production=dt.date(2026, 1, 5))
    net.register_lot("B", s2, "100002", 500, production=dt.date(2026, 1, 6))
    net.split("A", s1, [("A1", 600), ("A2", 400)], "100001")

    net.next_phase()  # 1: raw materials to the manufacturer
    net.ship_and_receive(["A1"], s1, m)
    net.ship_and_receive(["B"], s2, m)

    net.next_phase()  # 2: production and aggregation
    net.transform([("A1", 100), ("B", 50)], "P", m, "200001", 12, production=net.production_day)
    net.register_lot("Q", m, "200001", 4, "EA", production=net.production_day + dt.timedelta(days=1000))
    net.register_items([f"I{k}" for k in range(1, 13)], m, "200001", "P")
    net.register_items([f"J{k}" for k in range(1, 5)], m, "200001", "Q")
    for case in ("C1", "C2", "C3", "C4", "PL1"):
        net.register_unit(case, m)
    net.pack("C1", ["I1", "I2", "I3", "I4"], m)
    net.pack("C2", ["I5", "I6", "I7", "I8"], m)
    net.pack("C3", ["I9", "I10", "I11", "I12"], m)
    net.pack("C4", ["J1", "J2", "J3", "J4"], m)
    net.pack("PL1", ["C1", "C2", "C4"], m)

    net.next_phase()  # 3: to the distributor, who re-palletises
    net.ship_and_receive(["PL1", "C3"], m, d)
    net.unpack("PL1", ["C1", "C2", "C4"], d)
    net.register_unit("PL2", d)
    net.pack("PL2", ["C3", "C4"], d)

    net.next_phase()  # 4: to the pharmacy and the retailer
    net.ship_and_receive(["C1"], d, ph)
    net.ship_and_receive(["C2"], d, rt)
    return net
