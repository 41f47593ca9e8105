"""uapi-bridge: the VoipNow-style UAPI phone-call REST API for Asterisk."""
