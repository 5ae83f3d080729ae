"""What managers and administrators read about the running system: the audit log over HTTP, and the
booking reports (attendance, no-shows, cancellations, the share of places used)."""
