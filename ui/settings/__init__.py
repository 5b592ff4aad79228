"""The Settings page and its parts."""
