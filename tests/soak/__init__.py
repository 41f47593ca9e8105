"""The fault-injection soak of issue 27 (`scripts/soak`): two bridges on one PostgreSQL in front
of both sandbox Asterisk nodes, real calls, webhooks and live streams under a seeded schedule of
faults, then a ledger checked against Asterisk's own call records (cdr_csv's Master.csv)."""
