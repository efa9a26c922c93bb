"""An application as a caller submits it, checked against the catalogue into the engine's input.

Pure. The product must exist here (its first purpose and method are the defaults); whether the
amount, term and method fit the product is the engine's own check.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from creditgraph.decision.engine import Application
from creditgraph.decision.errors import DecisionInputError
from creditgraph.decision.products import Catalogue


def application_of(
    products: Catalogue,
    person_id: str,
    product_code: str,
    amount: Decimal | int | str,
    term: int,
    purpose: str | None,
    schedule_type: str | None,
    as_of: date,
) -> Application:
    """The engine's ``Application``; ``DecisionInputError`` for an unknown product or amount."""
    product = products.get(product_code)
    if product is None:
        known = ", ".join(products.codes)
        raise DecisionInputError(
            "product_code", f"unknown product {product_code!r}; known: {known}"
        )
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except ArithmeticError:
        raise DecisionInputError("amount", f"{amount!r} is not an amount") from None
    return Application(
        person_id=person_id,
        product_code=product_code,
        amount=value,
        term_months=term,
        purpose=purpose or product.purposes[0],
        schedule_type=schedule_type or product.schedule_types[0].value,
        as_of=as_of,
    )
