"""The venue catalogue: venues, their spaces, opening hours, closures, holidays and booking rules."""
