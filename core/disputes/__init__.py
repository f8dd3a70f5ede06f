"""Platform disputes: the platforms' rules as data and the pure deadline computation."""
