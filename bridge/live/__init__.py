"""The live call stream (Server-Sent Events) and the call board page that uses it."""
