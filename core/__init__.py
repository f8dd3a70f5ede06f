"""Returns Desk core: orders, cases, the return policy and the case lifecycle.

Framework-free: nothing here imports aiogram or anything in ``bot``.
"""

from core import sqlalchemy_asyncio

sqlalchemy_asyncio.install()  # before anything imports SQLAlchemy's asyncio package
