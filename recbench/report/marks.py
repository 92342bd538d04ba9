"""The marks a leaderboard row carries, in one place for the Markdown board, its overview and the site."""

FRONTIER = "★"  # on the quality-cost frontier of its table
NOT_SIGNIFICANT = "≈"  # not separable from the table's best row
BUSY = "⚠"  # timed while other processes used the cores
TIME_CAPPED = "◷"  # a time cap ended its training: the figure depends on the machine
FLOOR = "▿"  # a reference that knows nothing of the task
