# The NLU suite's session model (trained once, cached on disk by fingerprint of config,
# domain and data — which include our rules and stories), reused here: no second training.
from tests.nlu.conftest import trained_model_path  # noqa: F401
