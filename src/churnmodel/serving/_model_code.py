"""Models-from-code entry point: MLflow runs this file when it loads a churnmodel model.

It is copied into the model artifact by :func:`churnmodel.tracking.log_pyfunc_model` and never
imported by the package (so :func:`mlflow.models.set_model` runs only inside MLflow's loader).
The fitted bundle is loaded by :meth:`ChurnPyfuncModel.load_context` from the model's
``bundle`` artifact.
"""

from mlflow.models import set_model

from churnmodel.serving.pyfunc import ChurnPyfuncModel

set_model(ChurnPyfuncModel())
