"""Incidents, the journal (main courante), radio traffic and alerts: see issue #4 onwards."""
