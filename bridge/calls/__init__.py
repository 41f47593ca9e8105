"""Use cases between the HTTP routes and the adapters: placing, control and hang-up of calls.

Each takes a typed request (parsed by its route with bridge.api.fields), works on the call
tracker, the directory, the stores and the AMI port, and returns domain values; nothing here
knows of aiohttp.
"""
