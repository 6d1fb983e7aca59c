"""Use cases: they own the transactions, check permissions (policy) and raise errors from server.errors."""
