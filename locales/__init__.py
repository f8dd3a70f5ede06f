"""Message catalogues: ``<lang>/LC_MESSAGES/messages.po`` (a package so that it installs)."""
