"""The audit log: who did what to which booking, slot, closure, programme, venue or account, when and
from which address. Append-only: entries are written in the transaction of the change they describe and
never edited or deleted (the database refuses it, see ``audit.models``)."""
