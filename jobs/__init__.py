"""The background worker: scheduled jobs (campaigns, outbox delivery, expiry, birthdays, pass pushes)."""
