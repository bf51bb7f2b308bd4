"""Jobs that compose the layers: read, build features, (train, score), write.

Workflows read :class:`~churnmodel.config.Settings`; the library functions they call take
explicit arguments.
"""

from churnmodel.workflows.features import FeaturesJobResult, features_job, load_log

__all__ = ["FeaturesJobResult", "features_job", "load_log"]
