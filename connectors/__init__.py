"""Chat platform connectors: one module per platform, listed in `connectors.registry`."""
