"""PhoneCallEvents delivery: durable outbox, dispatcher, retry policy, signing, SSRF guard."""
