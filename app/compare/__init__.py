"""Hardware comparison: one workload definition run across devices, backends, precisions and quantizations.

Each configuration runs in its own worker process (:mod:`app.compare.runner`); results, with the machine
fingerprint, go to the history tables ``compare_sessions`` / ``compare_results`` (:mod:`app.compare.store`)
and can be exported and imported (:mod:`app.compare.export`, :mod:`app.compare.importing`).
"""
