"""Consumer authenticity verification: verdicts, GS1 Digital Link resolution, DSCSA product
identifier verification, anonymous scan records with clone signals, and rate limiting.

See docs/verification.md.
"""
