"""Moved to :mod:`rnnlab.tasks.forecast_baselines`; this name stays for existing imports."""

from ..tasks.forecast_baselines import *  # noqa: F401,F403
from ..tasks.forecast_baselines import __all__  # noqa: F401
