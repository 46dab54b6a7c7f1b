"""The reconciler: plans the fewest lock operations from desired and observed state, and runs
them with one serialized worker per lock, committing every outcome before the next."""

from keyslot.reconciler.engine import Reconciler
from keyslot.reconciler.policy import RetryPolicy
from keyslot.reconciler.settings import Opener, Settings
from keyslot.reconciler.timing import Timing

__all__ = ["Opener", "Reconciler", "RetryPolicy", "Settings", "Timing"]
