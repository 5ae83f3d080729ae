"""Programmes and their sessions: courses, drop-in classes, lotteries and overnight camps."""
