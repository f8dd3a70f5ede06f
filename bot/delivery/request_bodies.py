"""Sending Bot API requests more cheaply: one JSON body instead of a form.

aiogram's ``AiohttpSession`` sends every method as a form: each field is prepared, nested
objects (a keyboard, entities) are written as JSON *inside* a form field, then aiohttp's
``FormData`` url-encodes every field character by character. The Bot API takes the same
fields as one ``application/json`` body ("except for uploading files"), and the nested
objects then are written once, with the session's ``json_dumps``.

What is sent is what aiogram's form says, field for field: a field aiogram leaves out (``None``,
an empty string) is left out, a default (``parse_mode``) is filled in, dates are the same Unix
times, and the nested objects are the same (aiogram's ``prepare_value``, which drops their
``None`` fields). A method that uploads a file (an ``InputFile`` anywhere in it) goes as
aiogram's multipart form, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.aiohttp import AiohttpSession
from aiohttp import BytesPayload, FormData

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import TelegramType


class JsonBodies(AiohttpSession):
    """aiogram's HTTP session, sending a method as one JSON object unless it uploads a file."""

    def json_fields(self, bot: Bot, method: TelegramMethod[TelegramType]) -> dict[str, Any] | None:
        """The method's fields as aiogram's form would send them, as JSON values; ``None`` when
        the method uploads a file (only a multipart form carries one)."""
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        # without the None fields, which aiogram's form leaves out at every depth anyway: a
        # keyboard's buttons have a dozen each, and preparing them was most of the cost
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":  # what aiogram's form leaves out
                continue
            fields[key] = prepared
        return None if files else fields

    # aiohttp takes a payload wherever it takes a form (``data=``): aiogram's make_request, its
    # timeouts and its errors stay as they are.
    def build_form_data(  # type: ignore[override]
        self, bot: Bot, method: TelegramMethod[TelegramType]
    ) -> FormData | BytesPayload:
        fields = self.json_fields(bot, method)
        if fields is None:
            return super().build_form_data(bot, method)
        return BytesPayload(self.json_dumps(fields).encode(), content_type="application/json")
