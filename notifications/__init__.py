"""Notifications: the notices people read in the service, and the messages that carry them out by e-mail and
SMS, written to an outbox in the transaction of the change that causes them and delivered by a job."""
