"""Engine plugins; each subpackage is one engine behind the protocol in ``engines.base``."""
