"""Job types: each type's input model (code) and where and how it runs (the profiles file)."""
