"""The booking engine: slots, seats and nights that can never be oversold."""
