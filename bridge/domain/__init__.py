"""The pure core: calls, parties, effects and views; imports nothing of the bridge."""
