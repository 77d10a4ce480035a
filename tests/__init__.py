"""chatcrm's test suite."""
