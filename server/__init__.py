"""The assembly on top of the domains: the app factory and its wiring, the scheduler, the CLI, migrations
and the demo data. Nothing imports it."""
