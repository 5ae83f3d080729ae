-- pgbench's yardstick for the confirmed path (bench/_benches.py: booking_tx): the statements the app sends
-- for one confirmed booking (POST /api/bookings of a slot with places left, with an Idempotency-Key), in
-- the same order, on the same tables and indexes, from a client written in C. What PostgreSQL itself
-- needs for this work; the confirmed path's ratio to it is the app's own cost. Each transaction books a
-- slot of its own for a citizen of its own (bench_tx_pair, made by bench/_data.py: prepare_booking_tx).
-- pgbench -n -M prepared -c 64 -j 2 -T 8 -D venue=VENUE -f booking_tx.sql DB
\set shard random(1, 64)
SELECT user_id AS uid, slot_id AS sid, token_hash AS th, space_id AS space, starts_at AS starts,
       ends_at AS ends, week_start, week_end
  FROM bench_tx_pair WHERE n = (SELECT nextval('bench_tx_seq')) \gset
-- Before the routing (server.fast_lane): the catalogue version, then whether the slot is full.
SELECT sum(version), sum(CASE WHEN id > 64 THEN version ELSE 0 END), count(*) FROM catalogue_version;
SELECT capacity - taken FROM slot WHERE id = :sid AND status = 'open';
BEGIN;
-- Who the token is, with the account's venue assignments, its row locked: the citizen's lock
-- (accounts.services.authenticate(lock=True), booking.locks); then the key's first answer (booking.services).
SELECT u.id, u.email, u.password_hash, u.name, u.birth_year, u.phone, u.role, u.is_active, u.suspended_until,
       u.created_at, u.updated_at, va.id, va.user_id, va.venue_id, va.created_at, va.updated_at
  FROM user_account u JOIN access_token t ON t.user_id = u.id
  LEFT OUTER JOIN venue_assignment va ON u.id = va.user_id
 WHERE t.token_hash = :th AND t.expires_at > now() AND t.revoked IS false AND u.is_active IS true
   FOR UPDATE OF u;
SELECT id, user_id, key, request_hash, status_code, response, created_at, updated_at
  FROM idempotency_record WHERE user_id = :uid AND key = 'pgbench-' || :uid;
-- The placement: slot, space, venue, and the programme session if any (booking.placement).
SELECT slot.*, space.*, venue.*, program_session.*, program.*
  FROM slot JOIN space ON space.id = slot.space_id JOIN venue ON venue.id = slot.venue_id
  LEFT OUTER JOIN program_session ON program_session.slot_id = slot.id
  LEFT OUTER JOIN program ON program.id = program_session.program_id
 WHERE slot.id = :sid;
-- The rules about the citizen's own bookings: same slot, same time, the week's quota (booking.eligibility).
SELECT booking.id,
       booking.status IN ('waitlisted', 'offered', 'confirmed', 'checked_in', 'held') AND booking.slot_id IN (:sid)
         AS same_slot,
       booking.status IN ('waitlisted', 'offered', 'confirmed', 'checked_in', 'held')
         AND booking.starts_at < :ends AND booking.ends_at > :starts AS same_time,
       booking.status IN ('offered', 'confirmed', 'checked_in', 'held', 'checked_out', 'no_show')
         AND booking.starts_at >= :week_start AND booking.starts_at < :week_end
         AND booking.venue_id IN (SELECT venue.id FROM venue WHERE venue.kind = 'practice_site') AS week_0
  FROM booking
 WHERE booking.user_id = :uid
   AND (booking.status IN ('waitlisted', 'offered', 'confirmed', 'checked_in', 'held') AND booking.slot_id IN (:sid)
        OR booking.status IN ('waitlisted', 'offered', 'confirmed', 'checked_in', 'held')
           AND booking.starts_at < :ends AND booking.ends_at > :starts
        OR booking.status IN ('offered', 'confirmed', 'checked_in', 'held', 'checked_out', 'no_show')
           AND booking.starts_at >= :week_start AND booking.starts_at < :week_end
           AND booking.venue_id IN (SELECT venue.id FROM venue WHERE venue.kind = 'practice_site'))
 ORDER BY booking.starts_at, booking.id;
-- The place (venues.places.take), then the booking.
UPDATE slot SET taken = taken + 1, updated_at = now()
 WHERE id = :sid AND status = 'open' AND taken + 1 <= capacity;
INSERT INTO booking (user_id, venue_id, space_id, slot_id, starts_at, ends_at, party_size, units, status, late_cancel,
                     sequence, walk_in, qr_version, created_by_id, created_at, updated_at)
VALUES (:uid, :venue, :space, :sid, :starts, :ends, 1, 1, 'confirmed', false, 0, false, 0, :uid, now(), now())
RETURNING id AS booking_id \gset
-- The notice, the recipient and the channels they chose, its outbox message (notifications.outbox).
INSERT INTO notice (user_id, booking_id, kind, title, title_en, body, body_en, created_at, updated_at)
VALUES (:uid, :booking_id, 'booking_confirmed', '예약이 확정되었습니다', 'Your booking is confirmed',
        '벤치 문에서 ' || :starts || ' 예약이 확정되었습니다.', 'Your booking at Bench door on ' || :starts
        || ' is confirmed.', now(), now())
RETURNING id AS notice_id \gset
SELECT u.name, u.email, u.phone, u.is_active, np.email AS wants_email, np.sms AS wants_sms
  FROM user_account u LEFT OUTER JOIN notification_preference np ON np.user_id = u.id WHERE u.id = :uid;
INSERT INTO outbox_message (notice_id, user_id, channel, address, facts, status, attempts, next_attempt_at,
                            last_error, created_at, updated_at)
VALUES (:notice_id, :uid, 'email', 'pgbench' || :uid || '@bench.seoulrun4050.example',
        ('{"name": "벤치", "about": {"booking_id": ' || :booking_id || ', "starts_at": "' || :starts
         || '", "venue": "벤치 문", "venue_en": "Bench door", "address": "서울특별시 강북구 삼양로 173"}}')::jsonb,
        'pending', 0, now(), '', now(), now());
-- With the commit, one statement (core.database.write_at_commit): the booking's history row and audit entry
-- (booking.history), the first answer for a retry with the same key (booking.services), and the catalogue
-- version's bump (core.catalogue_version).
WITH w0 AS (
  INSERT INTO booking_event (booking_id, at, from_status, to_status, actor_id, reason, note, created_at, updated_at)
  VALUES (:booking_id, now(), NULL, 'confirmed', :uid, 'booked', '', now(), now())
), w1 AS (
  INSERT INTO audit_entry (at, actor_id, actor_role, address, action, subject_kind, subject_id, venue_id, details)
  VALUES (now(), :uid, 'citizen', '127.0.0.1', 'booking.created', 'booking', :booking_id, :venue,
          '{"from": null, "to": "confirmed", "reason": "booked", "party_size": 1}')
), w2 AS (
  INSERT INTO idempotency_record (user_id, key, request_hash, status_code, response, created_at, updated_at)
  VALUES (:uid, 'pgbench-' || :uid, md5(:uid::text) || md5(:sid::text), 201,
          ('{"id": ' || :booking_id || ', "user_id": ' || :uid || ', "venue_id": ' || :venue || ', "space_id": '
           || :space || ', "slot_id": ' || :sid || ', "status": "confirmed", "party_size": 1, "units": 1, '
           || '"starts_at": "' || :starts || '", "ends_at": "' || :ends || '", "venue_name": "벤치 문", '
           || '"venue_name_en": "Bench door", "space_name": "벤치 pgbench", "space_name_en": "pgbench rooms", '
           || '"address": "서울특별시 강북구 삼양로 173", "check_in": null, "check_out": null, "late_cancel": false, '
           || '"offer_expires_at": null, "checked_in_at": null, "walk_in": false, "arrived": null, '
           || '"cancel_deadline": "' || :starts || '", "qr_url": "/api/bookings/' || :booking_id || '/qr", '
           || '"created_at": "' || now() || '", "updated_at": "' || now() || '"}')::jsonb, now(), now())
)
UPDATE catalogue_version SET version = version + 1 WHERE id = :shard;
COMMIT;
