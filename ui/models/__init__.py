"""The Models page and its parts."""
