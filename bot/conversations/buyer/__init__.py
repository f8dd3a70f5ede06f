"""The buyer's side: each module is one flow with its router (``make_router()``)."""
