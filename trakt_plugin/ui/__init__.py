"""The NiceGUI dashboard: one module per page around a shared ``theme.frame()``."""
