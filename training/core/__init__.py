"""What every part of the engine stands on: errors, app folders, safe file writes, events, devices
and seeds. Imports nothing else of the engine.
"""
