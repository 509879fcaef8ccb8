"""Tamper-evident audit trail: per-record SHA-256 hash chains."""
