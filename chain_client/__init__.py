"""Typed Python client of the custody ledger: compile, deploy, sign, send, decode."""
