"""Step 3, Evaluate: scores, the confusion matrix, the worst mistakes, Grad-CAM."""
