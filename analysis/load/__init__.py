"""Loading scaling data: sweep folders or tables into canonical columns, row filters."""
