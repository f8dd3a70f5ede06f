"""A buyer's words that say they opened a dispute on a platform (or threaten one): the bot
then asks which platform and the dispute's number, to record it on their case.

The payment-dispute words of every language (``locales/<lang>/escalation.toml``, read by
core/cases/escalation.py) come first; a few phrases of having opened one that those lists
leave out are added here ("открыл спор", "abrí una disputa", "开了纠纷")."""

from __future__ import annotations

import unicodedata

from core.cases.escalation import mentions_payment_dispute

OPENED = (
    "dispute",
    "chargeback",
    "paypal claim",
    "a-to-z",
    "a to z claim",
    "открыл спор",
    "открыла спор",
    "открыли спор",
    "спор на",
    "диспут",
    "disputa",
    "contestación",
    "reclamação",
    "litige",
    "争议",
    "纠纷",
    "拒付",
    "نزاع",
)


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def mentions_dispute(text: str | None) -> bool:
    if not text:
        return False
    if mentions_payment_dispute(text):
        return True
    plain = _plain(text)
    return any(_plain(phrase) in plain for phrase in OPENED)
