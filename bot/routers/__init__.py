"""One router per flow, each built by ``make_router()``."""
