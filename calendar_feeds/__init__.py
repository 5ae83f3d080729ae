"""iCal subscriptions of venues, spaces, programmes and bookings."""
