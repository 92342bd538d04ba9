"""Run records as data: ``recbench.results.load()`` gives a pandas DataFrame.

    >>> import recbench.results
    >>> df = recbench.results.load("results")          # newest run of each cell
    >>> df[df.dataset == "sts-b"][["model", "value", "p50_ms"]]
"""

from recbench.results.rows import load
from recbench.results.records import iter_records, read_per_query, read_record

__all__ = ["load", "iter_records", "read_record", "read_per_query"]
