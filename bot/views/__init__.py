"""What people see: texts, keyboards built from what the core allows, event renderers."""
