"""A package only so that this folder's test_sweeps.py and tests/loyalty/test_sweeps.py can share a basename."""
