"""Step 4, Classify: the gallery, its filters, file actions, reviewing the unsure."""
