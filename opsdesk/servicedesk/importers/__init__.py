"""Importers of incidents from other service desks (see `servicenow`)."""
