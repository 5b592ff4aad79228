"""The History page and its parts."""
