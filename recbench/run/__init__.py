"""Running cells: a cell's definition, the grid and its executors, the runner that evaluates one
cell into a record, training, catalog encoding, and the two gates that re-run cells (``check``,
``verify``)."""
