"""Conversations, one router per flow: buyer/ (opening a case, my cases, the policy, asking for
a person), staff (sellers and agents deciding), agents (talking to buyers through the bot)."""
