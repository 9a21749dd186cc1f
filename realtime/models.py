"""The event outbox (issue #3)."""
