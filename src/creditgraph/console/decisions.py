"""How a credit decision reads on screen: ``creditgraph decide`` and the demo's examples print
it alike, reasons in Chinese and English and the offer's rates as percentages."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from creditgraph.console.display import percent


def print_decision(out: Console, record: dict[str, Any]) -> None:
    """A decision for a person to read: outcome, limit, score, reasons, the offer."""
    colour = {"approve": "green", "refer": "yellow", "decline": "red"}[record["outcome"]]
    out.print(
        f"[bold {colour}]{record['outcome'].upper()}[/]  decision {record['id']}  "
        f"{record['product_code']} {record['amount']} x {record['term_months']} months  "
        f"limit 额度 {record['limit']}"
    )
    pd = record["pd"]
    out.print(
        f"score 评分 {record['score'] or 0:.0f}  grade 等级 {record['grade']}  "
        f"PD {'-' if pd is None else f'{pd:.2%}'}  model {record['model_id']}  "
        f"social data used 使用社交数据: {'yes' if record['social_data_used'] else 'no'}",
        highlight=False,
    )
    for reason in record["reasons"]:
        out.print(f"  - {reason['zh']} / {reason['en']}", markup=False, highlight=False)
    for offer in record["offers"]:
        rows = offer["schedule"]["rows"]
        first = rows[0] if rows else {}
        out.print(
            f"offer 报价: {offer['amount']} over {offer['term_months']} months "
            f"({offer['schedule_type']}), nominal {percent(offer['nominal_rate'])}, "
            f"all-in 综合年化 {percent(offer['all_in_rate'])} (cap {percent(offer['rate_cap'], 0)}), "
            f"upfront fee {offer['upfront_fee']}, paid out {offer['net_disbursement']}, "
            f"first payment {first.get('payment', '-')}",
            highlight=False,
        )
    for review in record["reviews"]:
        out.print(f"review 人工复核: {review['id']} ({review['kind']}, {review['status']})")
