"""Video sources, the encode-once pipeline, WHEP egress and grants (issue #7)."""
