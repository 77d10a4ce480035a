"""The ingest pipeline: inbox workers turn stored webhook events into customers and messages.

Webhook routes store raw events (`webhooks/`); the workers here claim them, parse them through
the channel's connector (`connectors/`) and write through the store (`chatcrm.store`).
"""
