"""The assembly of the service: settings, database, errors, clock, app factory, scheduler and CLI."""
