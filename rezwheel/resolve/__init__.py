"""Resolving against indexes: the index as rez packages, the payload store, the install planner, pip and sdist builds."""
