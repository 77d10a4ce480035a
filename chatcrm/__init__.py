"""chatcrm: customer reports for chat-commerce sellers."""
