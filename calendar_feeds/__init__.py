"""iCal subscriptions, so that staff, instructors and citizens follow venues, spaces, programmes and their own
bookings in their calendar app; it reads the other domains and writes only its own table, ``calendar_feed``."""
