"""Customer reports: filters, summaries and exports over the store (no HTTP here)."""
