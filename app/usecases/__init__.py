"""What a user does with a model, written once for the CLI, the GUI and the server (no Qt here)."""
