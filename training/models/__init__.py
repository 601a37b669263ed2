"""Networks: the backbone registry, pretrained weights, ImageNet's classes, frozen features and the
"none of these" reference.
"""
