-- pgbench's yardstick for bookings (bench/_benches.py: hot_row): what the booking engine must do at least
-- to take a place on one popular slot, in one transaction. The guarded UPDATE is the booking engine's
-- (a CHECK keeps taken <= capacity as well); the INSERT writes a booking-like row into a copy of the
-- booking table with its indexes (the unique "one active booking per citizen and slot" one included).
-- pgbench -n -M prepared -c 64 -j 2 -T 8 -D hot=SLOT -D venue=VENUE -D space=SPACE -f hot_row.sql DB
BEGIN;
UPDATE slot SET taken = taken + 1 WHERE id = :hot AND status = 'open' AND taken + 1 <= capacity;
INSERT INTO bench_hot_booking (user_id, venue_id, space_id, slot_id, starts_at, ends_at, party_size, units, status,
                               late_cancel, sequence, walk_in, qr_version, created_at, updated_at)
VALUES (nextval('bench_hot_user'), :venue, :space, :hot, now() + interval '20 days', now() + interval '20 days 1 hour',
        1, 1, 'confirmed', false, 0, false, 0, now(), now());
COMMIT;
