"""Step 2, Train: the form, live plots and progress, Compare networks, the run history."""
