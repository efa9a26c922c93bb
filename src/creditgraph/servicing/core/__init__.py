"""The pure servicing core: what a money movement does to a loan, as a plan, with no database.

Typed values in (:mod:`.values`: a loan snapshot and its instalments, money in integer fen,
dates and ids as arguments), a :class:`~.plan.PostingPlan` out: journal lines, instalment
changes, the loan's field updates and state transition, events, a refund due. Processors, one
per kind of posting, in the manner of a loan's transaction processors:
:mod:`.disbursement`, :mod:`.repayment` (cash from a channel or the borrower's credit, one
function), :mod:`.prepay`, :mod:`.reversal`, :mod:`.refund`. All of them apply money through
the one allocation rule, :func:`creditgraph.servicing.allocation.allocate`.

Nothing here imports SQLAlchemy, opens a file or reads the clock; ``servicing.book`` reads the
values and applies the plans.
"""
