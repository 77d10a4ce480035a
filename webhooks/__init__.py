"""Webhook routes: verify, persist raw, acknowledge."""
