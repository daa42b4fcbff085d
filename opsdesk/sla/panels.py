"""Incident-page panel: the ticket's clocks."""
