"""Photos and datasets: decoding, scanning, the health report, splits, preprocessing, and the
caches of decoded pixels.
"""
