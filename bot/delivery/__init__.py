"""What the bot sends on its own: the outbox sender (pacing, retries, fan-out per recipient)
and the calls to Telegram that wait out its limits."""
