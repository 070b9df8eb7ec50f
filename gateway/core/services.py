"""Everything a gateway process holds, built once from settings: database, keys, outbox, worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from chain_client.errors import NotDeployed
from chain_client.ledger import CONTRACT_NAME, RELAY_NAME, CustodyLedgerClient
from chain_client.tx import NonceManager, TxSender
from gateway.core.chain import ChainContext, admin_signer, relayer_signer
from gateway.core.config import Settings
from gateway.db import database_url, make_engine, session_factory, upgrade
from gateway.partner.apikeys import ApiKeys
from gateway.partner.keyring import Keyring
from gateway.partner.notify import Notifier
from gateway.partner.outbox import Outbox
from gateway.partner.worker import OutboxWorker, WorkerSettings

if TYPE_CHECKING:
    from gateway.documents.service import DocumentService
    from gateway.indexer.service import IndexerService

__all__ = ["Services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    chain: ChainContext
    engine: Engine
    sessions: sessionmaker[Session]
    api_keys: ApiKeys
    keyring: Keyring
    notifier: Notifier
    _ledger: CustodyLedgerClient | None = None
    _admin_ledger: CustodyLedgerClient | None = None
    _outbox: Outbox | None = None
    worker: OutboxWorker | None = None
    _documents: DocumentService | None = None
    _indexer: IndexerService | None = None

    @classmethod
    def build(cls, settings: Settings, chain: ChainContext) -> Services:
        engine = make_engine(database_url(settings.database_url, settings.data_dir))
        upgrade(engine)
        sessions = session_factory(engine)
        services = cls(
            settings=settings,
            chain=chain,
            engine=engine,
            sessions=sessions,
            api_keys=ApiKeys(sessions),
            keyring=Keyring(settings.keys_dir, settings.keystore_secret(), settings.keystore_scrypt_n),
            notifier=Notifier(sessions),
        )
        services._connect_ledger()
        return services

    def _connect_ledger(self) -> None:
        record = self.chain.deployments
        if CONTRACT_NAME not in record or RELAY_NAME not in record:
            return
        nonces = NonceManager(self.chain.w3)
        relayer = TxSender(self.chain.w3, relayer_signer(self.settings), CustodyLedgerClient.revert_decoder(), nonces)
        address, relay = record.get(CONTRACT_NAME).address, record.get(RELAY_NAME).address
        self._ledger = CustodyLedgerClient(relayer, address, relay)
        self._admin_ledger = self._ledger.as_signer(admin_signer(self.settings))
        self._outbox = Outbox(self.sessions, self._ledger, self.keyring)
        self.worker = OutboxWorker(
            self.sessions,
            self._ledger,
            relayer.signer,
            self.keyring,
            WorkerSettings(batch_size=self.settings.batch_size, confirmations=self.settings.confirmations),
            on_change=self.notifier.changed,
        )

    def _require(self) -> None:
        if self._ledger is None:
            self.chain.deployments = type(self.chain.deployments)(self.settings.data_dir, self.chain.chain_id)
            self._connect_ledger()
        if self._ledger is None:
            raise NotDeployed(f"The ledger is not deployed on chain {self.chain.chain_id}; run ./scripts/start.")

    @property
    def ledger(self) -> CustodyLedgerClient:
        self._require()
        assert self._ledger is not None
        return self._ledger

    @property
    def admin_ledger(self) -> CustodyLedgerClient:
        self._require()
        assert self._admin_ledger is not None
        return self._admin_ledger

    @property
    def outbox(self) -> Outbox:
        self._require()
        assert self._outbox is not None
        return self._outbox

    @property
    def documents(self) -> DocumentService:
        """The documents service (store, catalog, recipients' keys, anchors), built on first use."""
        if self._documents is None:
            from gateway.documents.factory import build_document_service

            self._documents = build_document_service(self.settings, self)
        return self._documents

    @property
    def indexer_ready(self) -> bool:
        """Whether the indexer is (or can be) built: the ledger is deployed."""
        return self._indexer is not None or self._ledger is not None

    @property
    def indexer(self) -> IndexerService:
        """The event indexer feeding the read model, built on first use (the ledger must be deployed)."""
        if self._indexer is None:
            self._require()
            from gateway.indexer.indexer import IndexerConfig
            from gateway.indexer.service import IndexerService

            record = self.chain.deployments
            ledger = record.get(CONTRACT_NAME)
            config = IndexerConfig(confirmations=self.settings.indexer_confirmations, start_block=ledger.block_number)
            self._indexer = IndexerService(
                self.engine,
                self.chain.rpc_url,
                ledger.address,
                record.get(RELAY_NAME).address,
                config,
                poll_interval=self.settings.indexer_poll_interval,
            )
        return self._indexer

    def start(self) -> None:
        self.notifier.start()
        if self.settings.run_worker and self.worker is not None:
            self.worker.start()
        if self.settings.run_indexer and self._ledger is not None:
            self.indexer.start()

    def stop(self) -> None:
        if self._indexer is not None:
            self._indexer.stop()
        if self.worker is not None:
            self.worker.stop()
        self.notifier.stop()
        self.engine.dispose()
