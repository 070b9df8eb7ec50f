"""Gateway settings, from the environment with the prefix ``CUSTODY_`` (pydantic-settings)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LOCAL_CHAIN_IDS", "Settings", "get_settings"]

# Chain ids of development networks, where Anvil's public mnemonic may sign.
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class Settings(BaseSettings):
    """Everything the stack needs; each field is ``CUSTODY_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CUSTODY_", extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Chain state, deployments, database, documents.")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=0, le=65535)
    gateway_workers: int = Field(
        default=1, ge=1, le=64, description="Gateway processes serving HTTP on the port (SO_REUSEPORT)."
    )
    rpc_url: str | None = Field(default=None, description="External EVM node; unset runs the embedded Anvil.")
    chain_id: int = Field(default=31337, gt=0)
    anvil_port: int = Field(default=8545, ge=0, le=65535, description="Port of the embedded Anvil; 0 picks one.")
    block_time: float | None = Field(default=None, gt=0, description="Anvil interval mining; unset automines.")
    deployer_key: SecretStr | None = Field(default=None, description="Key that deploys and administers contracts.")
    relayer_key: SecretStr | None = Field(default=None, description="Key that pays gas to relay partner operations.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; unset: SQLite in the data folder.")
    keystore_passphrase: SecretStr | None = Field(default=None, description="Passphrase of custodial keystores.")
    keystore_passphrase_file: Path | None = Field(default=None, description="File holding that passphrase.")
    keystore_scrypt_n: int = Field(default=2**18, ge=2**10, description="scrypt work factor of new keystores.")
    confirmations: int = Field(default=1, ge=1, description="Blocks on top before a submission is confirmed.")
    run_worker: bool = Field(default=True, description="Run the outbox worker in this process.")
    batch_size: int = Field(default=200, ge=1, le=1000, description="Most submissions per relay transaction.")
    run_indexer: bool = Field(default=True, description="Follow the chain into the read model (idx_* tables) here.")
    indexer_confirmations: int = Field(default=0, ge=0, description="Index only blocks with this many on top.")
    indexer_nice: int = Field(
        default=10, ge=0, le=19, description="Niceness of the stack's indexer process: requests get the CPU first."
    )
    indexer_poll_interval: float = Field(default=1.0, gt=0, description="Seconds between indexer polls.")
    max_upload_bytes: int = Field(default=100 * 2**20, gt=0, description="Largest document or IPFS add (else 413).")
    documents_dir: Path | None = Field(default=None, description="Document store, catalog; unset: data_dir/documents.")
    ipfs_api_url: str | None = Field(default=None, description="Kubo RPC API (http://127.0.0.1:5001); unset: embedded.")
    ipfs_api_token: SecretStr | None = Field(default=None, description="Bearer token sent to that Kubo RPC API.")
    ipfs_blockstore: Literal["auto", "pack", "flatfs"] = Field(
        default="auto", description="Embedded block layout; auto keeps an existing store's, else pack."
    )
    ipfs_compat_version: str = Field(default="0.7.0", description="Version /api/v0/version reports to Kubo clients.")
    # Consumer verification (docs/verification.md)
    digital_link_base: str | None = Field(default=None, description="GS1 Digital Link base; unset: this gateway.")
    verify_cache_ttl: float = Field(default=2.0, ge=0, description="Seconds a verification lookup is reused.")
    verify_rate_per_second: float = Field(default=20.0, gt=0, description="Public requests per second per client.")
    verify_rate_burst: int = Field(default=120, ge=1, description="Burst of public requests per client.")
    verify_trust_forwarded_for: bool = Field(default=False, description="Rate-limit by X-Forwarded-For (proxy).")
    verify_clone_places: int = Field(default=3, ge=1, description="More distinct places than this: many_places.")
    verify_clone_window_hours: float = Field(default=72.0, gt=0, description="Window of the many_places signal.")
    verify_dispensed_scans: int = Field(default=3, ge=0, description="More scans after dispense: a clone signal.")
    verify_scan_flush_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Seconds between writes of the buffered verification scans."
    )
    dscsa_responder_gln: str | None = Field(default=None, description="GLN this gateway answers DSCSA requests as.")

    @field_validator("rpc_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def embedded_node(self) -> bool:
        return self.rpc_url is None

    @property
    def deployments_dir(self) -> Path:
        return self.data_dir / "deployments"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def keystore_secret(self) -> str | None:
        if self.keystore_passphrase is not None:
            return self.keystore_passphrase.get_secret_value()
        if self.keystore_passphrase_file is not None:
            return self.keystore_passphrase_file.read_text(encoding="utf-8").strip()
        return None


@functools.cache
def get_settings() -> Settings:
    return Settings()
