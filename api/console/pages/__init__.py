"""Console page groups: each module's `router` is mounted under `/admin`."""
