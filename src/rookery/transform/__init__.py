"""Withings → ROOK: pure functions from parsed Withings responses to ROOK documents.

One module per Withings service (`sleep`, `activity`, `workouts`, `measure`, `heart`), the value
rules they share (`rules`, `time`), and `dispatch`, which routes one response body to its
transform. Every transform takes a `UserContext` and returns `Produced` documents, each with its
stable `DocumentIdentity` and local date.
"""

from rookery.transform.context import HeightReading, Produced, UserContext
from rookery.transform.dispatch import transform_parsed, transform_response

__all__ = ["HeightReading", "Produced", "UserContext", "transform_parsed", "transform_response"]
