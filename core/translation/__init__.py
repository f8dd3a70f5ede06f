"""Translation of people's own words (the buyer's to staff, an agent's to the buyer): a port
with providers chosen in the configuration (``[translation]``), offline language detection and
protection of amounts, dates, numbers, links and addresses. See the README, "Languages and
translation"."""
