"""Step 1, Data: open a folder, its health report, the likely-mislabelled finder, the map."""
