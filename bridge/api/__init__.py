"""HTTP routes per resource: parse (fields.py), call a use case (bridge.calls), render."""
