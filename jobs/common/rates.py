"""How much real-world mess the synthetic retail data carries.

`VariationRates()` is the default setting; `HARD_RATES` roughly doubles or triples the
noise and duplicate rates. They are the defaults of the config's `generator.default` and
`generator.hard` (jobs/common/config.py); a profile sets any field by name under
`generator: {default: {...}, hard: {...}}`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class VariationRates:
    """Shares and probabilities that shape the generated data; all in [0, 1]."""

    crm_share: float = 0.60  # persons with a CRM customer record
    web_account_share: float = 0.55  # persons with a web shop account
    loyalty_share: float = 0.35  # persons with a loyalty card
    duplicate_crm: float = 0.04  # CRM records that are an extra record of a person already in the CRM
    duplicate_web_accounts: float = 0.03  # web accounts that are a second account of the same person
    duplicate_loyalty: float = 0.02  # loyalty members that are a second card of the same person
    typo: float = 0.03  # per name or street field of a record: one keyboard slip
    nickname: float = 0.05  # per record: given name written as a nickname (William -> Bill)
    swapped_names: float = 0.01  # per record: first and last name entered the wrong way round
    missing_field: float = 0.05  # per optional field of a record: left empty
    email_case: float = 0.10  # per captured email: upper or mixed case
    email_dots_tags: float = 0.05  # per captured email: gmail-style dots or a +tag added
    moved_address: float = 0.05  # persons who moved; one source still holds the old address
    shared_household_email: float = 0.02  # persons who use one email shared with their household
    never_login: float = 0.30  # web visitors who never log in (their events carry only cookie_id)
    churn: float = 0.25  # persons whose activity stops at a drawn date (before or inside the window)
    # Rows written broken (bad date, negative quantity, unknown SKU, cut line; returns also a refund
    # above the line's value or an unknown order / till transaction).
    dirty_rows: float = 0.001

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"generator rate '{f.name}' must be a number in [0, 1], got {value!r}")
        for name in ("duplicate_crm", "duplicate_web_accounts", "duplicate_loyalty"):
            if getattr(self, name) >= 0.5:
                raise ValueError(
                    f"generator rate '{name}' must be below 0.5 (a person has at most one extra record)"
                )

    @classmethod
    def from_dict(cls, values: Mapping[str, float] | None, base: VariationRates | None = None) -> VariationRates:
        """Rates from a config mapping; keys not given keep the value of `base` (default: defaults).

        Raises:
            ValueError: on an unknown key, naming it and the known ones.
        """
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown generator rate(s) {', '.join(unknown)}; known rates: {', '.join(sorted(known))}"
            )
        return replace(base or cls(), **{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_RATES = VariationRates()

# The `hard` difficulty: roughly two to three times the noise and duplicates of the default.
HARD_RATES = VariationRates(
    duplicate_crm=0.10,
    duplicate_web_accounts=0.08,
    duplicate_loyalty=0.06,
    typo=0.08,
    nickname=0.12,
    swapped_names=0.03,
    missing_field=0.12,
    email_case=0.25,
    email_dots_tags=0.15,
    moved_address=0.12,
    shared_household_email=0.05,
    never_login=0.45,
    dirty_rows=0.003,
)
