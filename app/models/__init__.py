"""The model manager: the local registry, Hub search and verified downloads, import and scan of local models.

Light at import time: huggingface_hub is imported inside the functions that talk to the Hub.
"""
