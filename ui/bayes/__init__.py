"""The Bayes page and its parts."""
