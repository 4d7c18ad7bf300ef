"""Custom actions for the Rasa action server (`rasa run actions --actions actions`).

One module per feature; each action reads slots, calls one `minsheng` service and
utters. Importing the package registers every action with rasa_sdk.
"""
from actions import emergency, handoff, rating, report, report_form, status  # noqa: F401
