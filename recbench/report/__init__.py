"""The reports: ``leaderboard.md`` and its pages (Markdown), the budget view, and the static
site. They read rows from ``recbench.results`` and write; nothing here measures."""
