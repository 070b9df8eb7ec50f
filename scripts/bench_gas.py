#!/usr/bin/env python3
"""Gas benchmark: the custody ledger next to OpenZeppelin ERC721 and ERC1155 on one Anvil node.

Figures are gas used by whole transactions (21,000 base included). Single operations are the
mean of several steady-state runs (sender and receiver already hold objects/tokens, so no
first-write balance slots distort either side); batches are one transaction divided by its size.
Run: ``.venv/bin/python scripts/bench_gas.py [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chain_client.artifacts import load_artifact
from chain_client.deploy import deploy
from chain_client.events import ItemRegistered, LogisticUnitRegistered
from chain_client.ledger import CustodyLedgerClient
from chain_client.merkle import EventMerkleTree
from chain_client.models import (
    DocumentType,
    GenealogyInput,
    LotOutput,
    PartnerRole,
    Registration,
    ShipmentInfo,
    Status,
)
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilNode
from chain_client.signers import LocalSigner
from chain_client.tx import NonceManager, TxSender, connect

SAMPLES = 10
BATCH_SIZES = (1, 10, 100, 1000)
MAKER_GLN, DISTRIBUTOR_GLN = "0614141000005", "0614141000029"


class Bench:
    def __init__(self, node: AnvilNode) -> None:
        w3 = connect(node.rpc_url)
        self.w3 = w3
        admin, maker, distributor = (LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, i) for i in range(3))
        nonces = NonceManager(w3)
        decoder = CustodyLedgerClient.revert_decoder()
        self.admin = TxSender(w3, admin, decoder, nonces)
        self.maker_tx = TxSender(w3, maker, decoder, nonces)
        self.maker_addr, self.distributor_addr = maker.address, distributor.address
        ledger = CustodyLedgerClient(self.admin, deploy(self.admin, "CustodyLedger", admin.address).address)
        self.maker_id = (
            ledger.register_partner("maker", PartnerRole.MANUFACTURER, [maker.address], [MAKER_GLN])
            .events[0]
            .partner_id
        )  # type: ignore[attr-defined]
        self.dist_id = (
            ledger.register_partner("distributor", PartnerRole.DISTRIBUTOR, [distributor.address], [DISTRIBUTOR_GLN])
            .events[0]
            .partner_id
        )  # type: ignore[attr-defined]
        self.ledger = ledger
        self.maker = ledger.as_signer(maker)
        self.distributor = ledger.as_signer(distributor)
        self.erc721 = w3.eth.contract(
            address=deploy(self.admin, "BenchERC721").address, abi=load_artifact("BenchERC721").abi
        )
        self.erc1155 = w3.eth.contract(
            address=deploy(self.admin, "BenchERC1155").address, abi=load_artifact("BenchERC1155").abi
        )
        self._serial = 0
        self._token = 0

    # -- helpers ---------------------------------------------------------------------------------

    def epc(self) -> str:
        self._serial += 1
        return f"urn:epc:id:sgtin:0614141.812345.B{self._serial}"

    def items(self, n: int) -> list[str]:
        ids: list[str] = []
        while len(ids) < n:
            k = min(100, n - len(ids))
            result = self.maker.register_items([Registration(epc=self.epc(), lot="LOT1") for _ in range(k)])
            ids += [e.object_id for e in result.of(ItemRegistered)]
        return ids

    def ssccs(self, n: int) -> list[str]:
        urns = []
        for _ in range(n):
            self._serial += 1
            urns.append(f"urn:epc:id:sscc:0614141.{self._serial:010d}")
        return [e.object_id for e in self.maker.register_logistic_units(urns).of(LogisticUnitRegistered)]

    def erc_tx(self, sender: TxSender, contract: object, fn: Callable[..., object], *args: object) -> int:
        data = fn(*args)._encode_transaction_data()  # type: ignore[attr-defined]
        return sender.transact({"to": contract.address, "data": data}).gas_used  # type: ignore[attr-defined]

    def tokens(self, n: int) -> list[int]:
        start = self._token
        self._token += n
        return list(range(start, start + n))

    def mint721(self, to: str, tokens: list[int]) -> list[int]:
        return [self.erc_tx(self.admin, self.erc721, self.erc721.functions.mint, to, t) for t in tokens]

    def run(self) -> dict[str, float | int | str]:
        r: dict[str, float | int | str] = {}
        ship_to_dist = ShipmentInfo(self.dist_id, MAKER_GLN, DISTRIBUTOR_GLN)
        # warm-up: both sides already hold objects and tokens
        warm = self.items(2)
        self.maker.transfer([warm[0]], self.dist_id)
        self.mint721(self.maker_addr, self.tokens(1))
        self.mint721(self.distributor_addr, self.tokens(1))

        # single operations
        r["register_gas"] = statistics.mean(
            self.maker.register_item(
                Registration(epc=self.epc(), lot="LOT1", expiry_date=dt.date(2028, 1, 31))
            ).gas_used
            for _ in range(SAMPLES)
        )
        minted = self.tokens(SAMPLES)
        r["erc721_mint_gas"] = statistics.mean(self.mint721(self.maker_addr, minted))
        singles = self.items(3 * SAMPLES)
        r["custody_transfer_gas"] = statistics.mean(
            self.maker.transfer([i], self.dist_id).gas_used for i in singles[:SAMPLES]
        )
        r["erc721_transfer_gas"] = statistics.mean(
            self.erc_tx(
                self.maker_tx,
                self.erc721,
                self.erc721.functions.transferFrom,
                self.maker_addr,
                self.distributor_addr,
                t,
            )
            for t in minted
        )
        shipped = singles[SAMPLES : 2 * SAMPLES]
        r["ship_gas"] = statistics.mean(self.maker.ship([i], ship_to_dist).gas_used for i in shipped)
        r["receive_gas"] = statistics.mean(self.distributor.receive([i], DISTRIBUTOR_GLN).gas_used for i in shipped)

        # batches: one-step transfer, ship + receive, ERC721 (n single txs), ERC1155 batch
        ids1155 = self.tokens(max(BATCH_SIZES))
        self.erc_tx(
            self.admin, self.erc1155, self.erc1155.functions.mintBatch, self.maker_addr, ids1155, [10] * len(ids1155)
        )
        for n in BATCH_SIZES:
            objs = self.items(n)
            r[f"batch{n}_per_item_gas"] = self.maker.transfer(objs, self.dist_id).gas_used / n
            objs = self.items(n)
            ship = self.maker.ship(objs, ship_to_dist).gas_used
            receive = self.distributor.receive(objs, DISTRIBUTOR_GLN).gas_used
            r[f"ship_receive{n}_per_item_gas"] = (ship + receive) / n
            r[f"erc1155_batch{n}_per_item_gas"] = (
                self.erc_tx(
                    self.maker_tx,
                    self.erc1155,
                    self.erc1155.functions.safeBatchTransferFrom,
                    self.maker_addr,
                    self.distributor_addr,
                    ids1155[:n],
                    [1] * n,
                    b"",
                )
                / n
            )
        r["erc1155_batch100_gas"] = round(float(r["erc1155_batch100_per_item_gas"]) * 100)

        # a pallet of 100 cases: pack, then ship + receive the pallet alone
        pallet, *cases = self.ssccs(101)
        r["pack100_per_item_gas"] = self.maker.pack(pallet, cases).gas_used / 100
        ship = self.maker.ship([pallet], ship_to_dist).gas_used
        receive = self.distributor.receive([pallet], DISTRIBUTOR_GLN).gas_used
        r["pallet100_ship_receive_gas"] = ship + receive
        tokens = self.tokens(100)
        self.mint721(self.maker_addr, tokens)
        r["erc721_100_transfers_gas"] = sum(
            self.erc_tx(
                self.maker_tx,
                self.erc721,
                self.erc721.functions.transferFrom,
                self.maker_addr,
                self.distributor_addr,
                t,
            )
            for t in tokens
        )

        # genealogy, status, documents, Merkle anchoring, relayed operation
        lot = (
            self.maker.register_lot(
                LotOutput(Registration("urn:epc:class:lgtin:0614141.812345.BULK", "BULK"), 1000, "KGM")
            )
            .events[0]
            .object_id
        )  # type: ignore[attr-defined]
        r["register_lot_gas"] = self.maker.register_lot(
            LotOutput(Registration("urn:epc:class:lgtin:0614141.812345.BULK2", "BULK2"), 1000, "KGM")
        ).gas_used
        outs = [
            LotOutput(Registration(f"urn:epc:class:lgtin:0614141.812345.S{k}", f"S{k}"), 100, "KGM") for k in range(2)
        ]
        r["split_2_gas"] = self.maker.split_lot(lot, outs).gas_used
        r["transform_gas"] = self.maker.transform(
            [GenealogyInput(lot, 10)],
            [LotOutput(Registration("urn:epc:class:lgtin:0614141.812346.T1", "T1"), 20, "EA")],
        ).gas_used
        item = self.items(1)[0]
        r["set_status_gas"] = self.maker.set_status([item], Status.QUARANTINED, "inspection").gas_used
        cid = bytes.fromhex("1220") + bytes(range(32))
        r["anchor_document_gas"] = self.maker.anchor_document(item, DocumentType.CERTIFICATE_OF_ANALYSIS, cid).gas_used
        tree = EventMerkleTree.build([i.to_bytes(32, "big") for i in range(1000)])
        r["merkle_per_event_gas_1000"] = self.maker.anchor_event_batch(tree.root, 1000, cid).gas_used / 1000
        relayed_item = self.items(1)[0]
        call = self.ledger.sign(self.maker.sender.signer, "transfer", [bytes.fromhex(relayed_item[2:])], self.dist_id)
        r["relayed_transfer_gas"] = self.ledger.execute_signed(call).gas_used
        return r


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def run() -> dict[str, float | int | str]:
    with AnvilNode() as node:
        result = Bench(node).run()
    out: dict[str, float | int | str] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores",
    }
    out.update({k: round(v) if isinstance(v, float) else v for k, v in result.items()})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args()
    r = run()
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"Gas per transaction (base cost included), {r['date']}, {r['machine']}\n")
    rows = [
        ("register item (SGTIN + lot + expiry)", r["register_gas"], "ERC721 mint", r["erc721_mint_gas"]),
        ("custody transfer (one step)", r["custody_transfer_gas"], "ERC721 transferFrom", r["erc721_transfer_gas"]),
        ("ship (one item)", r["ship_gas"], "", ""),
        ("receive (one item)", r["receive_gas"], "", ""),
        ("relayed transfer (EIP-712, one item)", r["relayed_transfer_gas"], "", ""),
        ("register lot", r["register_lot_gas"], "", ""),
        ("split lot into 2", r["split_2_gas"], "", ""),
        ("transform 1 lot -> 1 lot", r["transform_gas"], "", ""),
        ("set status (quarantine)", r["set_status_gas"], "", ""),
        ("anchor document (CIDv0)", r["anchor_document_gas"], "", ""),
    ]
    print(f"| {'operation':<40} | {'gas':>9} | {'baseline':<20} | {'gas':>9} |")
    print(f"|{'-' * 42}|{'-' * 11}|{'-' * 22}|{'-' * 11}|")
    for op, gas, base, base_gas in rows:
        print(f"| {op:<40} | {gas:>9} | {base:<20} | {base_gas:>9} |")
    print("\nPer item in a batch of n (one transaction; ERC721 has no batch: n transferFrom)\n")
    print(f"| {'n':>5} | {'transfer':>9} | {'ship+receive':>12} | {'ERC721':>9} | {'ERC1155 batch':>13} |")
    print(f"|{'-' * 7}|{'-' * 11}|{'-' * 14}|{'-' * 11}|{'-' * 15}|")
    for n in BATCH_SIZES:
        print(
            f"| {n:>5} | {r[f'batch{n}_per_item_gas']:>9} | {r[f'ship_receive{n}_per_item_gas']:>12} | "
            f"{r['erc721_transfer_gas']:>9} | {r[f'erc1155_batch{n}_per_item_gas']:>13} |"
        )
    transfer, erc = int(r["custody_transfer_gas"]), int(r["erc721_transfer_gas"])
    pallet, erc100 = int(r["pallet100_ship_receive_gas"]), int(r["erc721_100_transfers_gas"])
    merkle = int(r["merkle_per_event_gas_1000"])
    per100 = int(r["batch100_per_item_gas"])
    print(
        f"\npallet of 100 cases: pack {r['pack100_per_item_gas']}/case; ship + receive {pallet} vs 100 ERC721 "
        f"transfers {erc100} vs one ERC1155 batch of 100 {r['erc1155_batch100_gas']}"
    )
    print(f"Merkle-anchored event (1,000 per root): {merkle} gas per event\n")
    checks = [
        ("custody transfer <= ERC721 transferFrom", transfer <= erc, f"{transfer} vs {erc}"),
        ("per item in a 100-batch <= 1/3 single transfer", per100 * 3 <= transfer, f"{per100} vs {transfer / 3:.0f}"),
        ("pallet ship+receive >= 10x cheaper than 100 ERC721", pallet * 10 <= erc100, f"{erc100 / pallet:.1f}x"),
        ("Merkle-anchored event <= 1,000 gas", merkle <= 1000, f"{merkle}"),
    ]
    for name, ok, detail in checks:
        print(f"target: {name}: {'met' if ok else 'NOT met'} ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
