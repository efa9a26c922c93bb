"""What each monitoring detector reads its data for: loan monitoring, under the person's
``monitoring`` consent for the event's source (``privacy.purpose``).

A test enumerates ``Detector`` and fails on one without a declaration here.
"""

from __future__ import annotations

from creditgraph.monitoring.detectors import Detector
from creditgraph.privacy.purpose import MONITORING, DataClass, Declaration, declare

_C = DataClass
_SOCIAL = "stream:social"
_FINANCIAL = "stream:financial"
_SERVICING = "stream:servicing"

DETECTOR_DECLARATIONS: dict[Detector, Declaration] = {
    detector: declare("detector", detector.value, MONITORING, classes, reads)
    for detector, classes, reads in (
        (
            Detector.CONTAGION,
            (_C.TIES, _C.INTERACTIONS, _C.REPAYMENTS, _C.OUTCOMES),
            (_SOCIAL, _SERVICING, "db:loans"),
        ),
        (
            Detector.ACTIVITY_COLLAPSE,
            (_C.ACTIVITY, _C.INTERACTIONS, _C.TRANSFERS, _C.TIES),
            (_SOCIAL,),
        ),
        (Detector.FRAUD_RING, (_C.TIES, _C.INTERACTIONS, _C.DEVICES), (_SOCIAL,)),
        (Detector.MULTI_LENDING, (_C.EXTERNAL_LOANS,), (_FINANCIAL,)),
        (
            Detector.REPAYMENT_STRESS,
            (_C.REPAYMENTS, _C.INCOME, _C.EXTERNAL_LOANS, _C.TRANSFERS),
            (_SERVICING, _FINANCIAL, _SOCIAL),
        ),
    )
}
