"""Using a trained model: classifying, evaluating, the zero-shot baseline, exporting, sorting files
and CSV results.
"""
