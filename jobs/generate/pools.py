"""Value pools the generator samples from: UK names, nicknames, streets, towns, email domains.

Built once per run from Faker's `en_GB` provider lists (no Faker call per record) and a
few embedded tables; every record then draws indexes into these pools with numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker.providers.person.en_GB import Provider as _PersonProvider

# Common English given names and the short forms people write instead.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty"),
    "Robert": ("Bob", "Rob", "Bobby"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Richard": ("Rick", "Rich", "Dick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris", "Kit"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony", "Ant"),
    "Joseph": ("Joe", "Joey"),
    "Andrew": ("Andy", "Drew"),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Nicholas": ("Nick", "Nicky"),
    "Alexander": ("Alex", "Sandy"),
    "Benjamin": ("Ben", "Benny"),
    "Samuel": ("Sam", "Sammy"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Jonathan": ("Jon", "Jonny"),
    "Timothy": ("Tim",),
    "Kenneth": ("Ken", "Kenny"),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Phillip": ("Phil",),
    "David": ("Dave", "Davey"),
    "Charles": ("Charlie", "Chas"),
    "Frederick": ("Fred", "Freddie"),
    "Henry": ("Harry", "Hal"),
    "Lawrence": ("Larry", "Laurie"),
    "Leonard": ("Len", "Lenny"),
    "Patrick": ("Pat", "Paddy"),
    "Raymond": ("Ray",),
    "Ronald": ("Ron", "Ronnie"),
    "Gregory": ("Greg",),
    "Jeffrey": ("Jeff",),
    "Gerald": ("Gerry",),
    "Terence": ("Terry",),
    "Douglas": ("Doug", "Dougie"),
    "Joshua": ("Josh",),
    "Albert": ("Al", "Bert"),
    "Stanley": ("Stan",),
    "Donald": ("Don", "Donny"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate", "Cath"),
    "Kathleen": ("Kath", "Kathy"),
    "Jennifer": ("Jen", "Jenny"),
    "Rebecca": ("Becky", "Becca"),
    "Samantha": ("Sam", "Sammy"),
    "Victoria": ("Vicky", "Tori"),
    "Jacqueline": ("Jackie",),
    "Deborah": ("Debbie", "Deb"),
    "Patricia": ("Pat", "Trish"),
    "Christine": ("Chris", "Chrissie"),
    "Alexandra": ("Alex", "Lexi"),
    "Susan": ("Sue", "Susie"),
    "Abigail": ("Abby", "Abi"),
    "Josephine": ("Jo", "Josie"),
    "Joanne": ("Jo",),
    "Pamela": ("Pam",),
    "Natalie": ("Nat",),
    "Stephanie": ("Steph",),
    "Charlotte": ("Charlie", "Lottie"),
    "Jessica": ("Jess",),
    "Eleanor": ("Ellie", "Nell"),
    "Amanda": ("Mandy",),
    "Dorothy": ("Dot", "Dottie"),
    "Frances": ("Fran",),
    "Judith": ("Judy",),
    "Valerie": ("Val",),
    "Georgina": ("Georgie",),
    "Melanie": ("Mel",),
    "Kimberley": ("Kim",),
    "Barbara": ("Babs", "Barb"),
    "Gillian": ("Gill",),
}

# (post town, postcode area, relative population, districts in use)
TOWNS: tuple[tuple[str, str, float, int], ...] = (
    ("London", "E", 6.0, 18), ("London", "N", 5.0, 22), ("London", "NW", 4.0, 11),
    ("London", "SE", 6.0, 28), ("London", "SW", 6.0, 20), ("London", "W", 4.0, 14),
    ("London", "EC", 0.6, 4), ("London", "WC", 0.5, 2), ("Croydon", "CR", 2.5, 9),
    ("Kingston upon Thames", "KT", 2.0, 24), ("Birmingham", "B", 7.0, 48), ("Manchester", "M", 5.5, 46),
    ("Salford", "M", 1.5, 46), ("Leeds", "LS", 5.0, 29), ("Glasgow", "G", 4.5, 84),
    ("Sheffield", "S", 4.0, 36), ("Bradford", "BD", 3.0, 24), ("Liverpool", "L", 4.0, 40),
    ("Edinburgh", "EH", 3.5, 55), ("Bristol", "BS", 3.5, 49), ("Cardiff", "CF", 3.0, 48),
    ("Leicester", "LE", 2.8, 19), ("Coventry", "CV", 2.6, 13), ("Nottingham", "NG", 2.7, 25),
    ("Newcastle upon Tyne", "NE", 2.5, 40), ("Belfast", "BT", 2.5, 17), ("Brighton", "BN", 2.0, 45),
    ("Hull", "HU", 2.0, 20), ("Plymouth", "PL", 2.0, 35), ("Stoke-on-Trent", "ST", 2.0, 21),
    ("Wolverhampton", "WV", 2.0, 16), ("Derby", "DE", 2.0, 75), ("Swansea", "SA", 1.9, 73),
    ("Southampton", "SO", 1.9, 53), ("Aberdeen", "AB", 1.7, 56), ("Portsmouth", "PO", 1.7, 41),
    ("York", "YO", 1.6, 62), ("Peterborough", "PE", 1.6, 38), ("Dundee", "DD", 1.2, 11),
    ("Oxford", "OX", 1.2, 49), ("Cambridge", "CB", 1.2, 25), ("Norwich", "NR", 1.3, 35),
    ("Exeter", "EX", 1.1, 39), ("Reading", "RG", 1.4, 45), ("Luton", "LU", 1.3, 7),
    ("Milton Keynes", "MK", 1.5, 46), ("Northampton", "NN", 1.6, 29), ("Bournemouth", "BH", 1.5, 31),
    ("Sunderland", "SR", 1.6, 8), ("Middlesbrough", "TS", 1.3, 29), ("Bolton", "BL", 1.4, 9),
    ("Preston", "PR", 1.4, 26), ("Blackpool", "FY", 1.1, 8), ("Ipswich", "IP", 1.2, 33),
    ("Huddersfield", "HD", 1.2, 9), ("Warrington", "WA", 1.3, 16), ("Slough", "SL", 1.0, 9),
    ("Gloucester", "GL", 1.0, 56), ("Watford", "WD", 1.0, 25), ("Colchester", "CO", 1.0, 16),
    ("Crawley", "RH", 0.9, 20), ("Chelmsford", "CM", 1.0, 24), ("Bath", "BA", 0.8, 22),
    ("Lincoln", "LN", 0.8, 13), ("Carlisle", "CA", 0.7, 28), ("Inverness", "IV", 0.6, 63),
    ("Stirling", "FK", 0.6, 21), ("Newport", "NP", 0.9, 44), ("Wrexham", "LL", 0.6, 78),
    ("Canterbury", "CT", 0.8, 21), ("Guildford", "GU", 0.9, 52), ("Worcester", "WR", 0.8, 15),
    ("Hereford", "HR", 0.5, 9), ("Shrewsbury", "SY", 0.6, 25), ("Doncaster", "DN", 1.1, 41),
    ("Wigan", "WN", 1.0, 8), ("Oldham", "OL", 1.0, 16), ("Stockport", "SK", 1.2, 23),
    ("Swindon", "SN", 1.1, 26),
)

# Domains of the captured emails and their weights; gmail/googlemail are one mailbox.
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.34), ("googlemail.com", 0.04), ("outlook.com", 0.10), ("hotmail.co.uk", 0.12),
    ("hotmail.com", 0.04), ("yahoo.co.uk", 0.08), ("icloud.com", 0.08), ("btinternet.com", 0.06),
    ("live.co.uk", 0.04), ("sky.com", 0.04), ("virginmedia.com", 0.03), ("aol.com", 0.02),
    ("protonmail.com", 0.01),
)
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
# Providers whose mailboxes accept `local+tag@`.
PLUS_TAG_DOMAINS = ("gmail.com", "googlemail.com", "outlook.com", "hotmail.co.uk", "hotmail.com",
                    "icloud.com", "live.co.uk", "protonmail.com")
PLUS_TAGS = ("shop", "news", "deals", "retail", "orders", "promo", "2025", "uk")

_STREET_SUFFIXES = (
    "Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Crescent", "Gardens", "Grove",
    "Place", "Terrace", "Court", "Hill", "Row", "Mews", "Green", "Walk", "Rise", "View", "Square",
)
_STREET_STEMS = (
    "Church", "Station", "Mill", "Park", "Victoria", "Queen's", "King's", "Manor", "Meadow", "Orchard",
    "Chestnut", "Oak", "Elm", "Beech", "Willow", "Ash", "Cedar", "Holly", "Rose", "Windsor", "York",
    "Albert", "Alexandra", "Grange", "Highfield", "Springfield", "Mount", "Broad", "Bridge", "Castle",
    "Abbey", "Chapel", "School", "Market", "North", "South", "West", "East", "New", "Old", "Long",
    "High", "Green", "Hawthorn", "Heather", "Lime", "Maple", "Sycamore", "Rowan", "Birch", "Fern",
)
# Letters used in the inward part of a UK postcode (C, I, K, M, O, V never appear there).
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_KEYBOARD_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji",
    "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}


def _zipf_weights(n: int, offset: float) -> np.ndarray:
    """Weights for a list ordered from most to least common: a few names are very frequent."""
    w = 1.0 / (np.arange(n) + offset)
    return w / w.sum()


@dataclass(frozen=True)
class Pools:
    """Everything sampled per record, as numpy arrays (object arrays for strings)."""

    first_names: np.ndarray  # female names, then male names
    n_female: int
    first_weights_female: np.ndarray
    first_weights_male: np.ndarray
    first_token: np.ndarray  # lower-case letters only, for email local parts
    nick_start: np.ndarray  # per first name: offset into `nicknames` (or -1)
    nick_count: np.ndarray
    nicknames: np.ndarray
    last_names: np.ndarray
    last_weights: np.ndarray
    last_token: np.ndarray
    streets: np.ndarray
    towns: np.ndarray
    town_areas: np.ndarray
    town_districts: np.ndarray
    town_weights: np.ndarray
    inward_units: np.ndarray  # all two-letter inward units, e.g. "AB"
    domains: np.ndarray
    domain_weights: np.ndarray


def _token(name: str) -> str:
    return "".join(ch for ch in name.lower() if "a" <= ch <= "z")


def build_pools(rng: np.random.Generator, n_streets: int = 4000) -> Pools:
    """Build the pools for one run; `rng` only decides which street names exist."""
    female = list(_PersonProvider.first_names_female)
    male = list(_PersonProvider.first_names_male)
    firsts = female + male
    nick_start = np.full(len(firsts), -1, dtype=np.int64)
    nick_count = np.zeros(len(firsts), dtype=np.int64)
    nick_values: list[str] = []
    for i, name in enumerate(firsts):
        if name in NICKNAMES:
            nick_start[i] = len(nick_values)
            nick_count[i] = len(NICKNAMES[name])
            nick_values.extend(NICKNAMES[name])
    lasts = list(dict.fromkeys(_PersonProvider.last_names))
    stems = sorted(set(_STREET_STEMS) | set(lasts))
    combos = len(stems) * len(_STREET_SUFFIXES)
    picks = rng.choice(combos, size=min(n_streets, combos), replace=False)
    streets = np.array(
        [f"{stems[p // len(_STREET_SUFFIXES)]} {_STREET_SUFFIXES[p % len(_STREET_SUFFIXES)]}" for p in picks],
        dtype=object,
    )
    units = np.array([a + b for a in _INWARD_LETTERS for b in _INWARD_LETTERS], dtype=object)
    town_w = np.array([t[2] for t in TOWNS])
    dom_w = np.array([d[1] for d in EMAIL_DOMAINS])
    return Pools(
        first_names=np.array(firsts, dtype=object),
        n_female=len(female),
        first_weights_female=_zipf_weights(len(female), 15.0),
        first_weights_male=_zipf_weights(len(male), 15.0),
        first_token=np.array([_token(n) for n in firsts], dtype=object),
        nick_start=nick_start,
        nick_count=nick_count,
        nicknames=np.array(nick_values, dtype=object),
        last_names=np.array(lasts, dtype=object),
        last_weights=_zipf_weights(len(lasts), 25.0),
        last_token=np.array([_token(n) for n in lasts], dtype=object),
        streets=streets,
        towns=np.array([t[0] for t in TOWNS], dtype=object),
        town_areas=np.array([t[1] for t in TOWNS], dtype=object),
        town_districts=np.array([t[3] for t in TOWNS], dtype=np.int64),
        town_weights=town_w / town_w.sum(),
        inward_units=units,
        domains=np.array([d[0] for d in EMAIL_DOMAINS], dtype=object),
        domain_weights=dom_w / dom_w.sum(),
    )


def typo(text: str, op: int, pos: float, pick: float) -> str:
    """One keyboard slip in `text`: 0 swap neighbours, 1 drop, 2 double, 3 hit a neighbouring key.

    `pos` and `pick` are uniform draws in [0, 1) so the caller's generator decides everything.
    """
    if len(text) < 3:
        return text
    # Never touch the first letter: people rarely get that wrong, and it keeps names recognisable.
    i = 1 + int(pos * (len(text) - 2))
    ch = text[i]
    if op == 0:
        return text[:i] + text[i + 1] + ch + text[i + 2:] if i + 1 < len(text) else text[:i - 1] + ch + text[i - 1]
    if op == 1:
        return text[:i] + text[i + 1:]
    if op == 2:
        return text[:i] + ch + text[i:]
    near = _KEYBOARD_NEIGHBOURS.get(ch.lower())
    if not near:
        return text[:i] + text[i + 1:]
    repl = near[int(pick * len(near))]
    return text[:i] + (repl.upper() if ch.isupper() else repl) + text[i + 1:]
