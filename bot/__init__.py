"""Returns Desk on Telegram: the aiogram adapter, the CLI and the wiring."""

# core first: it loads SQLAlchemy's asyncio engine without the ORM (core/sqlalchemy_asyncio.py)
import core  # noqa: F401
