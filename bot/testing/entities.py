"""Telegram's formatted-text parsers, as the fake Bot API needs them.

``parse_text(text, parse_mode, entities)`` turns what a bot sends into what a person sees: the
plain text plus a list of Bot API ``MessageEntity`` dicts (offsets and lengths in UTF-16 code
units), or raises :class:`EntityParseError` with a description in Telegram's words (the fake
prefixes it with ``"Bad Request: can't parse entities: "``).

Supported, as in https://core.telegram.org/bots/api#formatting-options:

* ``HTML``: ``b strong i em u ins s strike del span class="tg-spoiler" tg-spoiler a href code
  pre blockquote [expandable] tg-emoji emoji-id tg-time unix``; the entities ``&lt; &gt; &amp;
  &quot;`` and numeric ones. Deliberately **stricter than Telegram** about a bare ``&`` that
  starts no entity (Telegram keeps it): a bot that forgets to escape user text fails here
  before a ``<`` in that text fails in production.
* ``MarkdownV2``: ``*bold* _italic_ __underline__ ~strike~ ||spoiler|| `code` ```pre```
  [text](url) ![emoji](tg://emoji?id=…)`` and ``>`` block quotes; every reserved character
  ``_*[]()~`>#+-=|{}.!`` outside markup must be escaped with ``\\`` (an approximation of
  Telegram's parser: the same rules, not every corner case).
* ``Markdown`` (legacy): ``*bold* _italic_ `code` ```pre``` [text](url)``.

As Telegram does, leading and trailing whitespace is trimmed after parsing (entities follow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "normalize_parse_mode",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Telegram's "can't parse entities" error; ``str(error)`` is the part after the colon."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def normalize_parse_mode(parse_mode: str | None) -> str | None:
    """``"html"`` → ``"HTML"`` etc. (Telegram ignores the case); ``None``/``""`` → ``None``.

    Raises ``ValueError`` for a parse mode Telegram does not know.
    """
    if not parse_mode:
        return None
    known = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}
    try:
        return known[parse_mode.lower()]
    except KeyError:
        raise ValueError(parse_mode) from None


def parse_text(
    text: str, parse_mode: str | None = None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities for ``text`` sent with ``parse_mode`` (or explicit ``entities``)."""
    mode = normalize_parse_mode(parse_mode)
    if entities:  # Telegram ignores parse_mode when entities are given
        plain, found = text, [dict(entity) for entity in entities]
    elif mode == "HTML":
        plain, found = parse_html(text)
    elif mode == "MarkdownV2":
        plain, found = parse_markdown_v2(text)
    elif mode == "Markdown":
        plain, found = parse_markdown(text)
    else:
        plain, found = text, []
    return _trim(plain, found)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    stripped = text.strip()
    if stripped == text:
        return text, _sorted(entities)
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, _sorted(kept)


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


@dataclass
class _Open:
    """A markup element opened and not closed yet."""

    tag: str  # HTML tag name or Markdown marker
    type: str | None  # entity type; None: no entity (e.g. <a> without href)
    start: int  # UTF-16 offset in the output
    source_index: int
    extra: dict[str, Any] = field(default_factory=dict)


class _Output:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.u16 += utf16_len(text)

    def close(self, element: _Open) -> None:
        length = self.u16 - element.start
        if element.type and length > 0:
            self.entities.append(
                {"type": element.type, "offset": element.start, "length": length, **element.extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        return "".join(self.parts), self.entities


# --------------------------------------------------------------------------------------- HTML

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_NAME_CHARS = re.compile(r"[a-zA-Z0-9_-]*")


def _decode_entity(source: str, index: int) -> tuple[str, int]:
    match = _HTML_ENTITY.match(source, index)
    if match is not None:
        decimal, hexadecimal, name = match.groups()
        if name is not None and name in _HTML_NAMED_ENTITIES:
            return _HTML_NAMED_ENTITIES[name], match.end()
        code = int(decimal, 10) if decimal else int(hexadecimal, 16) if hexadecimal else -1
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end()
    raise EntityParseError(
        f"Unsupported HTML entity at byte offset {_byte_offset(source, index)}: "
        "a bare '&' must be escaped as &amp;"
    )


def _skip_spaces(source: str, index: int) -> int:
    while index < len(source) and source[index] in " \t\r\n":
        index += 1
    return index


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset: ``(plain text, entities)`` or :class:`EntityParseError`."""
    out = _Output()
    stack: list[_Open] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == "&":
            decoded, i = _decode_entity(source, i)
            out.add(decoded)
        elif char != "<":
            out.add(char)
            i += 1
        elif source.startswith("</", i):
            i = _html_end_tag(source, i, stack, out)
        else:
            i = _html_start_tag(source, i, stack, out)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


def _html_end_tag(source: str, begin: int, stack: list[_Open], out: _Output) -> int:
    name_end = _NAME_CHARS.match(source, begin + 2).end()  # type: ignore[union-attr]
    name = source[begin + 2 : name_end].lower()
    j = _skip_spaces(source, name_end)
    offset = _byte_offset(source, begin)
    if j >= len(source) or source[j] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {offset}")
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {offset}")
    element = stack.pop()
    if name != element.tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {offset}, expected "</{element.tag}>", '
            f'found "</{name}>"'
        )
    if element.tag == "code" and stack and stack[-1].tag == "pre":
        # <pre><code class="language-x">…</code></pre> is one pre entity with a language
        if "language" in element.extra:
            stack[-1].extra["language"] = element.extra["language"]
        return j + 1
    out.close(element)
    return j + 1


def _html_start_tag(source: str, begin: int, stack: list[_Open], out: _Output) -> int:
    n = len(source)
    offset = _byte_offset(source, begin)
    name_end = _NAME_CHARS.match(source, begin + 1).end()  # type: ignore[union-attr]
    name = source[begin + 1 : name_end].lower()
    if name not in _HTML_TAGS:
        raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
    attributes: dict[str, str] = {}
    j = name_end
    while True:
        j = _skip_spaces(source, j)
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {offset}")
        if source[j] == ">":
            j += 1
            break
        attr_end = _NAME_CHARS.match(source, j).end()  # type: ignore[union-attr]
        attribute = source[j:attr_end].lower()
        if not attribute:
            raise EntityParseError(
                f'Empty attribute name in the tag "{name}" at byte offset {_byte_offset(source, j)}'
            )
        j = _skip_spaces(source, attr_end)
        if j < n and source[j] == "=":
            value, j = _html_attribute_value(source, _skip_spaces(source, j + 1), offset)
        else:
            value = ""  # a boolean attribute such as <blockquote expandable>
        attributes[attribute] = value

    entity_type: str | None = _HTML_TAGS[name]
    extra: dict[str, Any] = {}
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if name == "a":
        href = attributes.get("href", "")
        entity_type = "text_link" if href else None
        extra = {"url": href} if href else {}
    elif name == "code" and attributes.get("class", "").startswith("language-"):
        extra = {"language": attributes["class"].removeprefix("language-")}
    elif name == "blockquote" and "expandable" in attributes:
        entity_type = "expandable_blockquote"
    elif name == "tg-emoji":
        if not attributes.get("emoji-id"):
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        extra = {"custom_emoji_id": attributes["emoji-id"]}
    elif name == "tg-time":
        if not attributes.get("unix", "").isdigit():
            raise EntityParseError(
                f'Tag "tg-time" must have a numeric attribute "unix" at byte offset {offset}'
            )
        extra = {"unix_time": int(attributes["unix"])}
        if attributes.get("format"):
            extra["date_time_format"] = attributes["format"]
    stack.append(_Open(name, entity_type, out.u16, begin, extra))
    return j


def _html_attribute_value(source: str, j: int, tag_offset: int) -> tuple[str, int]:
    n = len(source)
    if j < n and source[j] in "\"'":
        quote = source[j]
        end = source.find(quote, j + 1)
        if end < 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {tag_offset}")
        raw, j = source[j + 1 : end], end + 1
    else:
        start = j
        while j < n and source[j] not in " \t\r\n>":
            j += 1
        raw = source[start:j]
    value: list[str] = []
    k = 0
    while k < len(raw):
        if raw[k] == "&":
            decoded, k = _decode_entity(raw, k)
            value.append(decoded)
        else:
            value.append(raw[k])
            k += 1
    return "".join(value), j


# --------------------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_TOGGLES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}
_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}


def _reserved(char: str) -> EntityParseError:
    return EntityParseError(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _unclosed(entity_type: str, source: str, index: int) -> EntityParseError:
    name = _ENTITY_NAMES.get(entity_type, entity_type)
    return EntityParseError(
        f"Can't find end of {name} entity at byte offset {_byte_offset(source, index)}"
    )


def _find_unescaped(source: str, needle: str, start: int) -> int:
    """Index of ``needle`` at or after ``start`` that is not escaped by a backslash, or -1."""
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source.startswith(needle, i):
            return i
        i += 1
    return -1


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 (an approximation): ``(plain text, entities)`` or an error."""
    out = _Output()
    stack: list[_Open] = []
    quote_start: int | None = None  # UTF-16 offset where the current block quote began
    last_newline = 0  # UTF-16 offset of the newline that ended the previous line
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        at_line_start = i == 0 or source[i - 1] == "\n"
        if at_line_start:
            if source.startswith(">", i) or source.startswith("**>", i):
                if quote_start is None:
                    quote_start = out.u16
                i += 3 if source.startswith("**>", i) else 1
                continue
            if quote_start is not None:
                _close_quote(out, quote_start, last_newline)
                quote_start = None
        if char == "\\":
            if i + 1 < n and 0 < ord(source[i + 1]) <= 126:
                out.add(source[i + 1])
                i += 2
                continue
            raise _reserved("\\")
        if char == "`":
            i = _mdv2_code(source, i, out)
            continue
        marker = source[i : i + 2] if source[i : i + 2] in ("__", "||") else char
        if marker in _MDV2_TOGGLES:
            entity_type = _MDV2_TOGGLES[marker]
            if stack and stack[-1].tag == marker:
                out.close(stack.pop())
            elif any(element.tag == marker for element in stack):
                raise _unclosed(stack[-1].type or "", source, stack[-1].source_index)
            else:
                stack.append(_Open(marker, entity_type, out.u16, i))
            i += len(marker)
            continue
        if char == "[" or source.startswith("![", i):
            is_emoji = char == "!"
            stack.append(_Open("![" if is_emoji else "[", None, out.u16, i))
            i += 2 if is_emoji else 1
            continue
        if char == "]":
            i = _mdv2_link_end(source, i, stack, out)
            continue
        if char in _MDV2_RESERVED:
            raise _reserved(char)
        if char == "\n":
            last_newline = out.u16
        out.add(char)
        i += 1
    if quote_start is not None:
        _close_quote(out, quote_start, out.u16)
    if stack:
        element = stack[-1]
        raise _unclosed(element.type or "text_link", source, element.source_index)
    return out.result()


def _close_quote(out: _Output, start: int, end: int) -> None:
    if end > start:
        out.entities.append({"type": "blockquote", "offset": start, "length": end - start})


def _mdv2_code(source: str, i: int, out: _Output) -> int:
    if source.startswith("```", i):
        end = _find_unescaped(source, "```", i + 3)
        if end < 0:
            raise _unclosed("pre", source, i)
        body = source[i + 3 : end]
        language = ""
        first_line, newline, rest = body.partition("\n")
        if newline and first_line and " " not in first_line:
            language, body = first_line, rest
        text = _unescape(body)
        entity: dict[str, Any] = {"type": "pre", "offset": out.u16, "length": utf16_len(text)}
        if language:
            entity["language"] = language
        out.add(text)
        if entity["length"]:
            out.entities.append(entity)
        return end + 3
    end = _find_unescaped(source, "`", i + 1)
    if end < 0:
        raise _unclosed("code", source, i)
    text = _unescape(source[i + 1 : end])
    if text:
        out.entities.append({"type": "code", "offset": out.u16, "length": utf16_len(text)})
    out.add(text)
    return end + 1


def _mdv2_link_end(source: str, i: int, stack: list[_Open], out: _Output) -> int:
    if not stack or stack[-1].tag not in ("[", "!["):
        raise _reserved("]")
    element = stack.pop()
    if not source.startswith("(", i + 1):
        raise _reserved("[")
    end = _find_unescaped(source, ")", i + 2)
    if end < 0:
        raise EntityParseError(
            f"Can't find end of a URL at byte offset {_byte_offset(source, i + 1)}"
        )
    url = _unescape(source[i + 2 : end])
    if element.tag == "![":
        match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
        if match is None:
            raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
        element.type, element.extra = "custom_emoji", {"custom_emoji_id": match.group(1)}
    else:
        element.type, element.extra = "text_link", {"url": url}
    out.close(element)
    return end + 1


# --------------------------------------------------------------------------- Markdown (legacy)


def parse_markdown(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown: ``*bold* _italic_ `code` ```pre``` [text](url)``."""
    out = _Output()
    i, n = 0, len(source)
    simple = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        char = source[i]
        if char == "\\" and i + 1 < n and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
        elif source.startswith("```", i):
            end = source.find("```", i + 3)
            if end < 0:
                raise _legacy_unclosed(source, i)
            body = source[i + 3 : end]
            first_line, newline, rest = body.partition("\n")
            entity: dict[str, Any] = {"type": "pre", "offset": out.u16}
            if newline and first_line and " " not in first_line:
                entity["language"], body = first_line, rest
            out.add(body)
            entity["length"] = out.u16 - entity["offset"]
            if entity["length"]:
                out.entities.append(entity)
            i = end + 3
        elif char in simple:
            end = source.find(char, i + 1)
            if end < 0:
                raise _legacy_unclosed(source, i)
            start = out.u16
            out.add(source[i + 1 : end])
            if out.u16 > start:
                out.entities.append(
                    {"type": simple[char], "offset": start, "length": out.u16 - start}
                )
            i = end + 1
        elif char == "[":
            match = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(source, i)
            if match is None:
                raise _legacy_unclosed(source, i)
            start = out.u16
            out.add(match.group(1))
            if out.u16 > start:
                out.entities.append(
                    {
                        "type": "text_link",
                        "offset": start,
                        "length": out.u16 - start,
                        "url": match.group(2),
                    }
                )
            i = match.end()
        else:
            out.add(char)
            i += 1
    return out.result()


def _legacy_unclosed(source: str, index: int) -> EntityParseError:
    return EntityParseError(
        f"Can't find end of the entity starting at byte offset {_byte_offset(source, index)}"
    )
