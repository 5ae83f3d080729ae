"""QR check-in at the door: signed codes, scan answers, offline scanning."""
