"""The cost of reading a buyer's description for the escalation words (core/cases/escalation.py):
every language's ``dispute`` and ``person`` lists over one message, as the description step
does. Prints µs per message for each check and per language, three rounds.

    .venv/bin/python benchmarks/escalation_words.py [--messages 500]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cases.escalation import (
    _NOT_WORDS,
    _WORD,
    mentions_payment_dispute,
    mentions_person,
    normalize,
    word_lists,
)

# A description as buyers write them: a few sentences, no escalation word in it, so every
# language's lists are tried to the end (the worst case, and the usual one).
DESCRIPTION = (
    "The lamp arrived with a cracked base and the shade is bent, it does not switch on at all. "
    "The box was crushed on one side. I would like a replacement or my money back please."
)


def per_call_us(check, messages: int) -> float:
    started = time.process_time()
    for _ in range(messages):
        check()
    return (time.process_time() - started) / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    lists = word_lists()
    words = _WORD.findall(normalize(_NOT_WORDS.sub(" ", DESCRIPTION)))
    print(f"{len(DESCRIPTION)} characters, {len(words)} words, {len(lists)} languages")
    for round_ in range(1, 4):
        dispute = per_call_us(lambda: mentions_payment_dispute(DESCRIPTION), args.messages)
        person = per_call_us(lambda: mentions_person(DESCRIPTION), args.messages)
        print(f"round {round_}: dispute {dispute:7.1f} µs   person {person:7.1f} µs per message")
    print("per language (dispute list, after the message is normalised once):")
    for code, language in lists.items():
        prepared = language.prepare(words)
        if language.dispute is None:
            continue
        us = per_call_us(partial(language.dispute.search, prepared), args.messages)
        print(f"  {code:8} {us:6.1f} µs")


if __name__ == "__main__":
    main()
