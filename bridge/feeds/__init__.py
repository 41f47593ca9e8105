"""Adapters that feed the AMI event stream of every node into the domain: calls (the tracker),
presence, queues and conferences."""
