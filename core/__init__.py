"""The kernel every domain stands on: settings, database, errors, clock, pagination, validation and
messages. It imports nothing of ours, so that every other package may import it."""
