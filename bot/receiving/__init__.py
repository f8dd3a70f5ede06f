"""Updates in, nothing lost: long polling or the webhook store each update in the inbox, a
worker processes them in order per chat; conversation state and per-chat locks; the leader
lease; the runner that starts it all and stops it gracefully."""
