"""Accounts: citizens and staff, roles, venue assignments, passwords (argon2) and bearer tokens."""
