"""The leaderboard as a static site (``recbench report --site DIR``): see ``build.py``."""
