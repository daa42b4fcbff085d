"""Incident-page panels of the SLA chain (breach attribution)."""
