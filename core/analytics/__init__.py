"""What returns cost and why: pure definitions of the shop's figures (no SQL, no rendering).

``core.services.stats`` reads the database into these shapes; the bot and the CLI render them.
"""
