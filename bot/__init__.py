"""Returns Desk on Telegram: the aiogram adapter, the CLI and the wiring."""
