"""The Classify page and its parts."""
