"""Trace, chain of custody and recall queries (gateway.audit) against a generated four-tier network
on a real Anvil node, indexed into SQLite and PostgreSQL. Every answer is checked against the
generator's own record of what it did (tests/supplynet.py), and the key sets also by name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from chain_client import gs1
from chain_client.models import Status
from gateway.audit.custody import chain_of_custody
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.audit.identifiers import resolve_object_id
from gateway.audit.recall import objects_of_gtin, recall_plan, recall_progress, recall_scope
from gateway.audit.trace import TraceResult, backward_trace, forward_trace
from gateway.indexer.indexer import Indexer
from gateway.indexer.source import RpcSource
from tests.conftest import Network
from tests.supplynet import SupplyNet, build_supply_net, register_actors
from tests.unit.test_indexer_support import BACKENDS, databases

pytestmark = pytest.mark.integration


def make_net(network: Network, tag: str) -> SupplyNet:
    actors = register_actors(network.ledger, network.node.rpc_url, tag)
    for actor in actors.values():
        actor.client = network.ledger.as_signer(actor.signer)
    return build_supply_net(actors, network.node.rpc_url)


@pytest.fixture(scope="module")
def supply(network: Network) -> SupplyNet:
    return make_net(network, "tr")


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, supply: SupplyNet, network: Network, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with databases(request.param, tmp_path_factory.mktemp("audit")) as dbs:
        engine = dbs.new("audit")
        Indexer(engine, RpcSource(network.node.rpc_url), network.ledger.address).sync_once()
        yield engine


def names(net: SupplyNet, ids: set[str]) -> set[str]:
    return {net.name_of(i) for i in ids}


def assert_matches(net: SupplyNet, result: TraceResult, root: str, direction: str, **kw: object) -> None:
    expected = net.expected_trace(root, direction, **kw)  # type: ignore[arg-type]
    assert {o.object_id: o.depth for o in result.objects} == expected.depths
    assert {p.partner_id for p in result.partners} == expected.partners
    assert {loc.gln for loc in result.locations} == expected.glns
    for edge in result.edges:  # every edge joins two traced objects
        assert edge.source in expected.depths and edge.target in expected.depths


# ------------------------------------------------------------------------------------------ traces


def test_backward_trace_of_an_item_reaches_both_suppliers_lots_and_its_cases(supply: SupplyNet, engine: Engine) -> None:
    with Session(engine) as session:
        result = backward_trace(session, supply["I1"])
    assert_matches(supply, result, "I1", "backward")
    assert names(supply, result.object_ids()) == {"I1", "P", "C1", "A1", "B", "PL1", "A"}
    assert supply.partners_named(p.partner_id for p in result.partners) == {
        "supplier1", "supplier2", "manufacturer", "distributor", "pharmacy",
    }  # fmt: skip
    a = supply.actors
    assert {a["supplier1"].gln, a["supplier2"].gln, a["pharmacy"].gln} <= {loc.gln for loc in result.locations}
    assert all(loc.partner_id is not None for loc in result.locations)
    relations = {(supply.name_of(e.source), supply.name_of(e.target), e.relation) for e in result.edges}
    assert relations == {
        ("P", "I1", "lot_member"), ("I1", "C1", "packed_in"), ("C1", "PL1", "packed_in"),
        ("A1", "P", "transform"), ("B", "P", "transform"), ("A", "A1", "split"),
    }  # fmt: skip
    item = result.get(supply["I1"])
    assert item is not None and item.identifiers["epc"] == supply.epcs[supply["I1"]] and item.kind == "ITEM"


def test_forward_trace_of_a_supplier_lot_reaches_every_derived_item_and_pallet(
    supply: SupplyNet, engine: Engine
) -> None:
    with Session(engine) as session:
        result = forward_trace(session, supply["A"])
        from_b = forward_trace(session, supply["B"])
    assert_matches(supply, result, "A", "forward")
    items = {f"I{k}" for k in range(1, 13)}
    assert names(supply, result.object_ids()) == {"A", "A1", "A2", "P", "C1", "C2", "C3", "PL1", "PL2"} | items
    assert supply.partners_named(p.partner_id for p in result.partners) == {
        "supplier1", "manufacturer", "distributor", "pharmacy", "retailer",
    }  # fmt: skip
    assert_matches(supply, from_b, "B", "forward")
    assert names(supply, from_b.object_ids()) == {"B", "P", "C1", "C2", "C3", "PL1", "PL2"} | items


@pytest.mark.parametrize(
    ("root", "direction"),
    [("J1", "backward"), ("Q", "forward"), ("I9", "backward"), ("C4", "forward"), ("A2", "forward"), ("P", "backward")],
)
def test_more_traces_equal_the_ground_truth(supply: SupplyNet, engine: Engine, root: str, direction: str) -> None:
    trace = backward_trace if direction == "backward" else forward_trace
    with Session(engine) as session:
        assert_matches(supply, trace(session, supply[root]), root, direction)


def test_max_depth_cuts_the_trace(supply: SupplyNet, engine: Engine) -> None:
    with Session(engine) as session:
        for depth in (0, 1, 2, 3):
            assert_matches(supply, backward_trace(session, supply["I1"], max_depth=depth), "I1", "backward",
                           max_depth=depth)  # fmt: skip
            assert_matches(supply, forward_trace(session, supply["A"], max_depth=depth), "A", "forward",
                           max_depth=depth)  # fmt: skip
        one = backward_trace(session, supply["I1"], max_depth=1)
    assert names(supply, one.object_ids()) == {"I1", "P", "C1"}


def test_a_time_window_keeps_only_what_happened_in_it(supply: SupplyNet, engine: Engine) -> None:
    # everything of a phase happens at or after its start, and PHASE_GAP seconds after the previous phase
    production, distribution = supply.phase_started[2] - dt.timedelta(seconds=1), supply.phase_started[3]
    with Session(engine) as session:
        early = forward_trace(session, supply["A"], until=production)
        late = backward_trace(session, supply["I1"], since=distribution)
        naive = backward_trace(session, supply["I1"], since=distribution.replace(tzinfo=None))
    assert_matches(supply, early, "A", "forward", until=production)
    assert names(supply, early.object_ids()) == {"A", "A1", "A2"}
    assert_matches(supply, late, "I1", "backward", since=distribution)
    assert names(supply, late.object_ids()) == {"I1", "C1", "PL1"}  # packed then; its lot and sources are older
    assert naive.object_ids() == late.object_ids()  # a naive time is UTC


def test_bad_trace_queries_are_refused(supply: SupplyNet, engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        with pytest.raises(AuditNotFound) as missing:
            backward_trace(session, "0x" + "ab" * 32)
        assert missing.value.code == "audit.object_not_found"
        with pytest.raises(AuditInvalidQuery) as depth:
            forward_trace(session, supply["A"], max_depth=-1)
        assert (depth.value.code, depth.value.field) == ("audit.invalid_depth", "max_depth")
        with pytest.raises(AuditInvalidQuery) as window:
            forward_trace(session, supply["A"], since=now, until=now - dt.timedelta(seconds=1))
        assert window.value.code == "audit.invalid_window"


# ------------------------------------------------------------------------------------------ identifiers, custody


def test_identifiers_in_every_gs1_form_name_the_same_object(supply: SupplyNet, engine: Engine) -> None:
    item, lot = supply["I1"], supply["P"]
    urn = supply.epcs[item]
    sgtin = gs1.parse_epc_urn(urn)
    assert isinstance(sgtin, gs1.Sgtin)
    lgtin = gs1.parse_epc_urn(supply.epcs[lot])
    assert isinstance(lgtin, gs1.Lgtin)
    with Session(engine) as session:
        assert resolve_object_id(session, item.upper().replace("0X", "0x")) == item
        assert resolve_object_id(session, urn) == item
        assert resolve_object_id(session, sgtin.digital_link()) == item
        assert resolve_object_id(session, f"(01){sgtin.gtin.value}(21){sgtin.serial}") == item
        assert resolve_object_id(session, lgtin.digital_link()) == lot
        # Digital Link carries no company prefix length: a wrong guess still finds the object by its keys
        assert resolve_object_id(session, sgtin.digital_link(), company_prefix_length=9) == item
        with pytest.raises(gs1.GS1Error) as bad:
            resolve_object_id(session, f"(01){sgtin.gtin.value[:-1]}0(21){sgtin.serial}")
        assert bad.value.code == "gs1.check_digit" or bad.value.code.startswith("gs1.")
        with pytest.raises(gs1.GS1Error):
            resolve_object_id(session, "urn:epc:id:sgtin:not-a-urn")
        with pytest.raises(AuditInvalidQuery) as short:
            resolve_object_id(session, "0x1234")
        assert short.value.code == "audit.invalid_identifier"
        with pytest.raises(AuditInvalidQuery) as incomplete:
            resolve_object_id(session, f"(01){sgtin.gtin.value}")
        assert incomplete.value.code == "audit.identifier_incomplete"
        with pytest.raises(AuditNotFound):
            resolve_object_id(session, sgtin.epc_urn.replace(sgtin.serial, sgtin.serial + "Z"))


def test_chain_of_custody_lists_every_hand_and_place(supply: SupplyNet, engine: Engine) -> None:
    a = supply.actors
    with Session(engine) as session:
        chain = chain_of_custody(session, supply["I1"])
    steps = [(e.event, e.custodian.name if e.custodian else None, e.gln) for e in chain.events]
    m, d, ph = a["manufacturer"], a["distributor"], a["pharmacy"]
    assert steps == [
        ("registered", m.name, None),
        ("packed", m.name, None),
        ("shipped", m.name, m.gln),
        ("received", d.name, d.gln),
        ("ownership_transferred", d.name, None),  # the shipments passed title on receipt
        ("shipped", d.name, d.gln),
        ("received", ph.name, ph.gln),
        ("ownership_transferred", ph.name, None),
    ]
    assert chain.events[2].container_id == supply["PL1"] and chain.events[5].container_id == supply["C1"]
    assert (chain.events[4].partner.name, chain.events[4].counterparty.name) == (m.name, d.name)  # type: ignore[union-attr]
    assert chain.events[1].container_id == supply["C1"]
    assert all(e.tx_hash.startswith("0x") and e.block_number > 0 for e in chain.events)
    assert [e.block_number for e in chain.events] == sorted(e.block_number for e in chain.events)
    assert chain.object.custodian.name == ph.name and chain.object.owner.name == ph.name
    assert chain.object.registrant.partner_id == m.id and chain.object.lot_id == supply["P"]


# ------------------------------------------------------------------------------------------ recall


def test_recall_scope_of_the_product_lot_equals_the_ground_truth(supply: SupplyNet, engine: Engine) -> None:
    subjects, containers, co_packed, holdings = supply.expected_recall("P")
    with Session(engine) as session:
        scope = recall_scope(session, [supply["P"]])
        lgtin = gs1.parse_epc_urn(supply.epcs[supply["P"]])
        assert isinstance(lgtin, gs1.Lgtin)
        day = supply.production_day
        by_gtin = objects_of_gtin(session, lgtin.gtin.value, date_from=day, date_to=day)
        by_registration = objects_of_gtin(session, lgtin.gtin.value, basis="registration", date_from=dt.date.today())
        with pytest.raises(AuditNotFound):
            objects_of_gtin(session, lgtin.gtin.value, date_from=dt.date(2000, 1, 1), date_to=dt.date(2000, 12, 31))
        with pytest.raises(AuditInvalidQuery):
            objects_of_gtin(session, lgtin.gtin.value, date_from=day, date_to=day - dt.timedelta(days=1))
    assert scope.ids("subject") == subjects
    assert scope.ids("container") == containers
    assert scope.ids("co_packed") == co_packed
    assert names(supply, subjects) == {"P"} | {f"I{k}" for k in range(1, 13)}
    assert names(supply, containers) == {"C1", "C2", "C3", "PL2"}
    assert names(supply, co_packed) == {"C4", "J1", "J2", "J3", "J4"}
    assert {h.partner.partner_id: set(h.holding) for h in scope.holdings} == holdings
    assert all(not h.incoming for h in scope.holdings)
    assert by_gtin == [supply["P"]]  # the only lot or item of that GTIN produced that day
    assert supply.id_set("P", "Q", "I1", "J4") <= set(by_registration)  # registered today (chain time)


def test_recall_plan_recalls_only_what_the_partner_registered(supply: SupplyNet, engine: Engine) -> None:
    m, s1 = supply.actors["manufacturer"], supply.actors["supplier1"]
    with Session(engine) as session:
        plan = recall_plan(session, [supply["A"]], s1.id)
        with pytest.raises(AuditInvalidQuery) as foreign:
            recall_plan(session, [supply["A"]], m.id)
    assert names(supply, {a.object_id for a in plan.to_recall}) == {"A", "A1", "A2"}
    assert plan.to_recall[0].object_id == supply["A"]
    skipped = {supply.name_of(a.object_id): why for a, why in plan.skipped}
    assert skipped == {"P": "registered_by_another_partner"} | {
        f"I{k}": "registered_by_another_partner" for k in range(1, 13)
    }
    assert foreign.value.code == "audit.not_registrant"


@pytest.fixture(scope="module")
def recalled(network: Network) -> SupplyNet:
    return make_net(network, "rc")


def test_recall_completion_moves_as_objects_are_destroyed_and_quarantined(
    recalled: SupplyNet, network: Network, tmp_path: Path
) -> None:
    net, a = recalled, recalled.actors
    with databases("sqlite", tmp_path) as dbs:
        engine = dbs.new("recall")
        indexer = Indexer(engine, RpcSource(network.node.rpc_url), network.ledger.address)

        def progress() -> tuple[float, dict[str, int], dt.datetime | None]:
            indexer.sync_once()
            with Session(engine) as session:
                p = recall_progress(session, net["P"])
            return p.completion, p.counts, p.completed_at

        indexer.sync_once()
        with Session(engine) as session:
            with pytest.raises(AuditNotFound) as never:
                recall_progress(session, net["P"])
            assert never.value.code == "audit.recall_not_found"
            plan = recall_plan(session, [net["P"]], a["manufacturer"].id)
        assert {x.object_id for x in plan.to_recall} == net.expected_recall("P")[0]
        for obj in plan.to_recall:
            a["manufacturer"].ledger.recall(obj.object_id, "contaminated")
        completion, counts, done = progress()
        # of the 13 subject objects only the lot P is still with the manufacturer
        assert (completion, counts["returned"], counts["outstanding"], done) == (round(100 / 13, 2), 1, 12, None)

        net.set_status([f"I{k}" for k in range(1, 5)], Status.DECOMMISSIONED, a["pharmacy"], "destroyed")
        completion, counts, _ = progress()
        assert (counts["destroyed"], counts["outstanding"], completion) == (4, 8, round(500 / 13, 2))

        net.set_status(["PL2"], Status.QUARANTINED, a["distributor"], "recall hold")  # holds I9..I12
        completion, counts, _ = progress()
        assert (counts["quarantined"], counts["outstanding"]) == (4, 4)

        last = net.set_status([f"I{k}" for k in range(5, 9)], Status.DECOMMISSIONED, a["retailer"], "destroyed")
        completion, counts, done = progress()
        assert (completion, counts["outstanding"], done) == (100.0, 0, last)
        with Session(engine) as session:
            p = recall_progress(session, net["P"])
        assert p.time_to_completion == last - p.initiated_at and p.initiated_by == a["manufacturer"].id
        assert p.reason == "contaminated"
