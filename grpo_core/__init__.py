"""grpo-core: the GRPO engine. Importing the package is light; torch loads with the modules that need it."""
__version__ = "0.1.0"
