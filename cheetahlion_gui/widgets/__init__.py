"""Widgets the steps share: dialogs, thumbnail grids and their model, the photo preview."""
