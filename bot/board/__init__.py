"""The seller's board: a Telegram Mini App (and a browser page) served by the bot's own aiohttp
server at /board/: ``api`` (routes, JSON API, evidence files), ``auth`` (initData, sessions,
signed links), ``views`` (what the page shows, in the staff member's language), ``links``
(buttons, login links, the menu button), ``chat`` (/board) and ``static/`` (HTML, CSS, JS)."""
