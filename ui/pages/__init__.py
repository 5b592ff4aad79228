"""The pages of the main window, created lazily by the registry in ``ui.main_window``."""
