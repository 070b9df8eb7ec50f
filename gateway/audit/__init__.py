"""Auditor ledger inspection (issue #7): read-only views of the indexed ledger for auditors and regulators."""
