#!/usr/bin/env python3
"""Gas benchmark: the custody ledger next to OpenZeppelin ERC721 on the same Anvil node.

Every figure is the gas used by the whole transaction (21,000 base cost included), averaged over
several steady-state operations (accounts already hold tokens/objects, so no 0 -> non-zero
balance writes distort either side). Run: ``.venv/bin/python scripts/bench_gas.py [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chain_client.artifacts import load_artifact
from chain_client.deploy import deploy
from chain_client.ledger import PARTNER_ROLE, REGISTRAR_ROLE, CustodyLedgerClient, object_id
from chain_client.models import Registration
from chain_client.node import ANVIL_DEFAULT_MNEMONIC, AnvilNode
from chain_client.reverts import RevertDecoder
from chain_client.signers import LocalSigner
from chain_client.tx import NonceManager, TxSender, connect

SAMPLES = 10


def _epc(n: int) -> str:
    return f"urn:epc:id:sgtin:0614141.812345.B{n}"


def run() -> dict[str, float | int | str]:
    with AnvilNode() as node:
        w3 = connect(node.rpc_url)
        admin, maker, distributor = (LocalSigner.from_mnemonic(ANVIL_DEFAULT_MNEMONIC, i) for i in range(3))
        abis = [load_artifact(n).abi for n in ("CustodyLedger", "BenchERC721")]
        nonces = NonceManager(w3)
        decoder = RevertDecoder(abis)
        as_admin = TxSender(w3, admin, decoder, nonces)
        as_maker = TxSender(w3, maker, decoder, nonces)

        ledger = CustodyLedgerClient(as_admin, deploy(as_admin, "CustodyLedger", admin.address).address)
        ledger.grant_role(REGISTRAR_ROLE, admin.address)
        for account in (maker, distributor):
            ledger.grant_role(PARTNER_ROLE, account.address)
        erc721 = w3.eth.contract(address=deploy(as_admin, "BenchERC721").address, abi=abis[1])

        serial = iter(range(1_000_000))

        def register() -> tuple[str, int]:
            epc = _epc(next(serial))
            result = ledger.register_item(
                Registration(epc=epc, lot="LOT1", expiry_date=dt.date(2028, 1, 31)), maker.address
            )
            return object_id(epc), result.gas_used

        def mint(token: int) -> int:
            data = erc721.functions.mint(maker.address, token)._encode_transaction_data()
            return as_admin.transact({"to": erc721.address, "data": data}).gas_used

        # warm-up: both recipients already hold something (steady state on both sides)
        register()
        mint(10**9)
        data = erc721.functions.mint(distributor.address, 10**9 + 1)._encode_transaction_data()
        as_admin.transact({"to": erc721.address, "data": data})
        first = register()[0]
        ledger.as_signer(maker).transfer(first, distributor.address)

        registered = [register() for _ in range(SAMPLES)]
        register_gas = statistics.mean(g for _, g in registered)
        erc721_mint_gas = statistics.mean(mint(t) for t in range(SAMPLES))

        maker_ledger = ledger.as_signer(maker)
        custody_transfer_gas = statistics.mean(
            maker_ledger.transfer(i, distributor.address).gas_used for i, _ in registered
        )
        erc721_transfer_gas = statistics.mean(
            as_maker.transact(
                {
                    "to": erc721.address,
                    "data": erc721.functions.transferFrom(
                        maker.address, distributor.address, t
                    )._encode_transaction_data(),
                }
            ).gas_used
            for t in range(SAMPLES)
        )

        per_item: dict[int, float] = {}
        for size in (10, 100):
            ids = [register()[0] for _ in range(size)]
            per_item[size] = maker_ledger.batch_transfer(ids, distributor.address).gas_used / size

    return {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores",
        "register_gas": round(register_gas),
        "erc721_mint_gas": round(erc721_mint_gas),
        "custody_transfer_gas": round(custody_transfer_gas),
        "erc721_transfer_gas": round(erc721_transfer_gas),
        "batch10_per_item_gas": round(per_item[10]),
        "batch100_per_item_gas": round(per_item[100]),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    r = run()
    if args.json:
        print(json.dumps(r))
        return 0
    transfer, erc_transfer = int(r["custody_transfer_gas"]), int(r["erc721_transfer_gas"])
    rows = [
        ("register item (SGTIN + lot + expiry)", r["register_gas"], "ERC721 mint", r["erc721_mint_gas"]),
        ("custody transfer", transfer, "ERC721 transferFrom", erc_transfer),
        ("batch transfer, per item (10)", r["batch10_per_item_gas"], "", ""),
        ("batch transfer, per item (100)", r["batch100_per_item_gas"], "", ""),
    ]
    print(f"Gas per transaction (base cost included), {r['date']}, {r['machine']}\n")
    print(f"| {'operation':<38} | {'gas':>8} | {'baseline':<20} | {'gas':>8} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 22}|{'-' * 10}|")
    for op, gas, base, base_gas in rows:
        print(f"| {op:<38} | {gas:>8} | {base:<20} | {base_gas:>8} |")
    print()
    print(
        f"target: custody transfer <= ERC721 transferFrom: {'met' if transfer <= erc_transfer else 'NOT met'}"
        f" ({transfer} vs {erc_transfer})"
    )
    per100 = int(r["batch100_per_item_gas"])
    print(
        f"target: per item in a 100-batch <= 1/3 of a single transfer: "
        f"{'met' if per100 * 3 <= transfer else 'NOT met'} ({per100} vs {transfer / 3:.0f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
