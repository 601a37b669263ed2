"""Looking into data and models: likely mislabelled photos, their undoable clean-up, and Grad-CAM
explanations.
"""
