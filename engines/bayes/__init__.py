"""Bayesian network engine: readers and writers, junction tree, elimination, sampling, MAP/MPE, VOI.

Only ``engines.bayes.spec`` is imported outside the worker; everything else loads in the worker.
"""
