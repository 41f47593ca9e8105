"""The ARI link: Asterisk's REST interface, spoken over aiohttp's client (stored recordings)."""
