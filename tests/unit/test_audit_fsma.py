"""FSMA 204 sortable spreadsheet (gateway.audit.fsma): the KDE catalogue against 21 CFR 1.1325 to
1.1350, traceability lot codes, and the rows of an indexed in-memory chain on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.orm import Session

from gateway.audit import fsma
from gateway.audit.errors import AuditInvalidQuery, AuditNotFound
from gateway.indexer.indexer import Indexer
from tests.unit.test_audit_exports import DISTRIBUTOR_GLN, MAKER_GLN, dispatch, lgtin
from tests.unit.test_indexer_support import BACKENDS, LEDGER, Databases, Ev, FakeChain, databases

# Every KDE the rule lists, by CTE and paragraph, written out here independently of the module.
REQUIRED: dict[fsma.Cte, list[str]] = {
    fsma.Cte.HARVESTING: [f"1325(a)(1)({n})" for n in ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii")]
    + ["1325(a)(2)"],
    fsma.Cte.COOLING: [f"1325(b)(1)({n})" for n in ("i", "ii", "iii", "iv", "v", "vi", "vii")],
    fsma.Cte.INITIAL_PACKING: [f"1330(a)({n})" for n in range(1, 17)] + [f"1330(b)({n})" for n in range(1, 8)],
    fsma.Cte.FIRST_LAND_BASED_RECEIVING: [f"1335({c})" for c in "abcdefg"],
    fsma.Cte.SHIPPING: [f"1340(a)({n})" for n in range(1, 9)],
    fsma.Cte.RECEIVING: [f"1345(a)({n})" for n in range(1, 9)],
    fsma.Cte.TRANSFORMATION: [f"1350(a)(1)({n})" for n in ("i", "ii", "iii")]
    + [f"1350(a)(2)({n})" for n in ("i", "ii", "iii", "iv", "v", "vi")],
}


def test_every_kde_of_every_cte_has_a_column() -> None:
    columns = {c.key for c in fsma.COLUMNS}
    cited = {(k.cte, k.cfr.removeprefix("21 CFR 1.")) for k in fsma.KDES}
    for cte, paragraphs in REQUIRED.items():
        for paragraph in paragraphs:
            assert (cte, paragraph) in cited, f"{cte} {paragraph} has no KDE"
    assert all(k.column in columns for k in fsma.KDES), [k for k in fsma.KDES if k.column not in columns]
    assert {k.cte for k in fsma.KDES} == set(fsma.Cte)
    assert all(k.cfr.startswith("21 CFR 1.13") and k.text for k in fsma.KDES)


def test_columns_are_unique_and_every_column_serves_a_kde_or_sorting() -> None:
    assert len(set(fsma.KEYS)) == len(fsma.KEYS) and len(set(fsma.HEADERS)) == len(fsma.HEADERS)
    used = {k.column for k in fsma.KDES}
    extras = {c.key for c in fsma.COLUMNS} - used
    assert extras == {"cte", "event_time", "gtin", "lot", "ledger_tx_hash"}
    # within one CTE, a column holds one KDE (else a cell would have to hold two values)
    per_cte = Counter((k.cte, k.column) for k in fsma.KDES)
    assert [key for key, count in per_cte.items() if count > 1] == []


@pytest.mark.parametrize(
    "value",
    [
        "urn:epc:class:lgtin:0614141.812345.L%2F1",
        "(01)80614141123458(10)L/1",
        "https://id.gs1.org/01/80614141123458/10/L%2F1",
        "]d201806141411234581" + "0L/1",
    ],
)
def test_traceability_lot_codes_in_every_gs1_form(value: str) -> None:
    assert fsma.parse_tlc(value) == fsma.TraceabilityLot("80614141123458", "L/1")
    assert fsma.parse_tlc(value).code == "(01)80614141123458(10)L/1"


@pytest.mark.parametrize(
    "value", ["urn:epc:id:sgtin:0614141.812345.1", "(01)80614141123458", "(01)80614141123457(10)L1", "L1", ""]
)
def test_bad_traceability_lot_codes(value: str) -> None:
    with pytest.raises(AuditInvalidQuery) as caught:
        fsma.parse_tlc(value)
    assert (caught.value.code, caught.value.field) == ("fsma.invalid_tlc", "tlc")


@pytest.fixture(params=BACKENDS)
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    with databases(request.param, tmp_path) as d:
        yield d


def test_rows_of_a_source_lot_and_its_transformation_output(dbs: Databases) -> None:
    chain = FakeChain()
    chain.mine([Ev.partner(1, "Grower"), Ev.location(1, MAKER_GLN), Ev.partner(2, "Wholesale", 1),
                Ev.location(2, DISTRIBUTOR_GLN)])  # fmt: skip
    lot_a = Ev.lot("lotA", 100)
    lot_a[1]["origin_gln"] = MAKER_GLN
    chain.mine([lot_a])
    lot_b = Ev.lot("lotB", 30)
    lot_b[1]["origin_gln"] = MAKER_GLN
    chain.mine([Ev.genealogy("g", 0), Ev.consumed("g", "lotA", 30, 70), lot_b, Ev.produced("g", "lotB", 30)])
    chain.mine([dispatch(1, 1, 2, MAKER_GLN, DISTRIBUTOR_GLN), Ev.shipped("lotA", 1)])
    chain.mine([Ev.received("lotA", 1, 2, DISTRIBUTOR_GLN)])
    engine = dbs.new("fsma")
    Indexer(engine, chain, LEDGER).sync_once()
    with Session(engine) as session:
        rows = fsma.fsma_rows(session, fsma.parse_tlc(lgtin("lotA")))
        with pytest.raises(AuditNotFound) as caught:
            fsma.fsma_rows(session, fsma.parse_tlc(lgtin("lotZ")))
        assert caught.value.code == "fsma.tlc_not_found"
        later = fsma.fsma_rows(session, fsma.parse_tlc(lgtin("lotA")), since=_at(chain, 4))
    lot_a_code = fsma.parse_tlc(lgtin("lotA")).code
    keys = (
        "cte",
        "traceability_lot_code",
        "quantity",
        "unit_of_measure",
        "input_quantity",
        "ship_from_gln",
        "recipient_gln",
        "receiving_gln",
        "tlc_source_description",
    )
    view = [tuple(r[k] for k in keys) for r in rows]
    lot_b_code = fsma.parse_tlc(lgtin("lotB")).code
    assert view == [
        ("initial_packing", lot_a_code, 100, "KGM", "", "", "", "", "Grower"),
        ("transformation", lot_b_code, 30, "KGM", 30, "", "", "", "Grower"),
        ("shipping", lot_a_code, 70, "KGM", "", MAKER_GLN, DISTRIBUTOR_GLN, "", "Grower"),  # after the 30 used
        ("receiving", lot_a_code, 70, "KGM", "", "", "", DISTRIBUTOR_GLN, "Grower"),
    ]
    assert rows[1]["input_traceability_lot_code"] == lot_a_code
    assert (rows[2]["recipient_description"], rows[3]["previous_source_description"]) == ("Wholesale", "Grower")
    assert [r["cte"] for r in later] == ["shipping", "receiving"]
    # CSV and XLSX carry the same cells
    as_csv = list(csv.reader(io.StringIO(fsma.to_csv(fsma.HEADERS, fsma.KEYS, rows))))
    sheet = openpyxl.load_workbook(io.BytesIO(fsma.to_xlsx("FSMA 204", fsma.HEADERS, fsma.KEYS, rows))).active
    assert sheet is not None and sheet.auto_filter.ref is not None
    as_xlsx = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
    assert as_csv == as_xlsx and len(as_csv) == 5 and tuple(as_csv[0]) == fsma.HEADERS


def _at(chain: FakeChain, block: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(chain.blocks[block].timestamp, dt.UTC)
