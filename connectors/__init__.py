"""Chat platform connectors: platform SDKs in, domain events out."""
