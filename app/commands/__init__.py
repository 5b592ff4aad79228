"""The ``workbench`` sub-commands, one module per command group."""
