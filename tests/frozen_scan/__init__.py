"""The image scan and ZIP check as they were before session 7 made them cheaper (main at f73ae8a).

Frozen here as the reference the fast paths must match: tests/test_scan_equivalence.py runs both
over the seed corpus, the examples and generated texts and ZIPs and asserts identical results.
Not used by the archiver.
"""
