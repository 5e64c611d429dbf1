"""What a coach does after the stop: session details, consent on record, shared copies."""
