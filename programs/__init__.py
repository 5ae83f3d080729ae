"""Programmes and their sessions: courses, drop-in classes, lotteries and overnight camps.

A session is a slot of the programme's space (``venues.models.Slot``, origin ``session``); the booking
engine books it like any slot, with the programme's rules (window, age band, allocation) applied.
"""
