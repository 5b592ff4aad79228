"""Readers and writers of Bayesian network files (BIF, XMLBIF, XDSL, Hugin NET, UAI)."""
