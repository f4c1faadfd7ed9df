"""APScheduler wiring and the periodic jobs."""
