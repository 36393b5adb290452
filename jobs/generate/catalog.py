"""The product catalog: SKUs, their daily snapshot (source `products`) and SKU choice.

One catalog per run, shared by every chunk of persons. A SKU's position in the
catalog arrays is sorted by (category, brand, price), so "a cheap item of brand b
in category c" is a slice of positions; events store positions and print SKUs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.generate.timeline import Window


@dataclass(frozen=True)
class CategorySpec:
    name: str
    slug: str
    repeatable: bool  # bought again and again (consumables): drives replenishment rhythms
    share: float  # share of the SKUs and of shoppers' attention
    median_price: float  # pounds
    price_sigma: float
    subcategories: tuple[tuple[str, tuple[str, ...]], ...]  # (subcategory, product nouns)
    brands: tuple[str, ...]
    variants: tuple[str, ...]


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("Beauty", "beauty", True, 0.10, 14.0, 0.6, (
        ("Skincare", ("Moisturiser", "Serum", "Cleanser", "Face Mask")),
        ("Makeup", ("Mascara", "Foundation", "Lipstick", "Eyeshadow Palette")),
        ("Haircare", ("Shampoo", "Conditioner", "Hair Oil")),
        ("Fragrance", ("Eau de Parfum", "Body Mist", "Eau de Toilette")),
    ), ("Lumiere", "Petal & Pine", "Glow Theory", "Maison Verde", "Aurelle", "Bloom Lab", "Silk Route",
        "Nordic Dew"), ("30ml", "50ml", "100ml", "250ml", "Travel Size")),
    CategorySpec("Grocery", "grocery", True, 0.12, 3.5, 0.55, (
        ("Coffee & Tea", ("Ground Coffee", "Coffee Beans", "Tea Bags", "Coffee Pods")),
        ("Snacks", ("Crisps", "Dark Chocolate", "Granola Bars", "Mixed Nuts")),
        ("Pantry", ("Olive Oil", "Pasta", "Basmati Rice", "Chopped Tomatoes")),
        ("Drinks", ("Sparkling Water", "Orange Juice", "Oat Drink", "Cola")),
    ), ("Harvest Table", "Hillside Farm", "Golden Acre", "Brewhouse", "Kitchen Pantry", "Oak & Barley",
        "Fresh Fields"), ("Single", "Pack of 4", "Pack of 6", "Family Size", "500g", "1kg")),
    CategorySpec("Pet", "pet", True, 0.06, 9.0, 0.6, (
        ("Dog Food", ("Dry Dog Food", "Wet Dog Food", "Dog Treats")),
        ("Cat Food", ("Dry Cat Food", "Wet Cat Food", "Cat Treats")),
        ("Pet Toys", ("Chew Toy", "Cat Teaser", "Tennis Balls")),
        ("Pet Care", ("Flea Treatment", "Pet Shampoo", "Cat Litter")),
    ), ("Happy Paws", "Whisker & Tail", "Barkside", "Furlong", "Purrfect", "Canine Co"),
        ("Small", "Medium", "Large", "2kg", "6kg", "12 Pack")),
    CategorySpec("Baby", "baby", True, 0.05, 11.0, 0.6, (
        ("Nappies", ("Nappies", "Baby Wipes", "Nappy Cream")),
        ("Baby Food", ("Baby Porridge", "Fruit Pouches", "First Milk")),
        ("Baby Clothing", ("Sleepsuit", "Bodysuit Set", "Baby Hat")),
        ("Nursery", ("Baby Monitor", "Changing Mat", "Night Light")),
    ), ("Little Sprout", "Cuddle & Co", "Tiny Steps", "Moonbeam Baby", "Nestling", "Bramble Baby"),
        ("Size 1", "Size 3", "Size 5", "0-3 Months", "6-12 Months", "Multipack")),
    CategorySpec("Health", "health", True, 0.07, 7.0, 0.55, (
        ("Vitamins", ("Vitamin D", "Multivitamin", "Omega-3", "Vitamin C")),
        ("Personal Care", ("Shower Gel", "Deodorant", "Hand Cream", "Razor Blades")),
        ("First Aid", ("Plasters", "Pain Relief", "Antiseptic Cream")),
        ("Oral Care", ("Toothpaste", "Electric Toothbrush", "Mouthwash")),
    ), ("VitaCore", "Pure Balance", "Wellside", "Daily Good", "Mediva", "Fresh Mint Co", "Arbor Health"),
        ("30 Tablets", "90 Tablets", "250ml", "500ml", "Twin Pack")),
    CategorySpec("Electronics", "electronics", False, 0.09, 60.0, 0.9, (
        ("Headphones", ("Wireless Earbuds", "Over-Ear Headphones", "Sports Earphones")),
        ("Phones & Tablets", ("Tablet", "Phone Case", "Screen Protector")),
        ("Smart Home", ("Smart Speaker", "Smart Plug", "Video Doorbell", "Smart Bulb")),
        ("Accessories", ("USB-C Cable", "Power Bank", "Wireless Charger", "Laptop Stand")),
    ), ("Voltra", "Sonique", "Brightwave", "Nexon", "Axiom", "Pulse Audio", "Kestrel Tech", "Orbit"),
        ("Black", "White", "Graphite", "64GB", "128GB", "2m")),
    CategorySpec("Home", "home", False, 0.10, 18.0, 0.75, (
        ("Kitchen", ("Frying Pan", "Knife Set", "Mixing Bowls", "Kettle")),
        ("Bedding", ("Duvet Cover", "Pillow Pair", "Fitted Sheet", "Throw")),
        ("Decor", ("Scented Candle", "Photo Frame", "Cushion", "Vase")),
        ("Storage", ("Storage Box", "Laundry Basket", "Shelf Unit")),
    ), ("Hearth & Home", "Linen Lane", "Copper Kettle", "Casa Nova", "Nook", "Willowbrook", "Stoneware Co"),
        ("Single", "Double", "King", "Grey", "Sage", "Set of 2")),
    CategorySpec("Women's Fashion", "womens-fashion", False, 0.11, 28.0, 0.6, (
        ("Dresses", ("Midi Dress", "Wrap Dress", "Shirt Dress")),
        ("Tops", ("Linen Shirt", "Knit Jumper", "Cotton T-Shirt", "Blouse")),
        ("Shoes", ("Trainers", "Ankle Boots", "Ballet Flats")),
        ("Accessories", ("Tote Bag", "Scarf", "Leather Belt")),
    ), ("Seren", "Maple & Moss", "Isla Rose", "Atelier North", "Covent", "Fable", "Marlowe"),
        ("Size 8", "Size 10", "Size 12", "Size 14", "Navy", "Black", "Camel")),
    CategorySpec("Men's Fashion", "mens-fashion", False, 0.08, 30.0, 0.6, (
        ("Shirts", ("Oxford Shirt", "Flannel Shirt", "Polo Shirt")),
        ("Trousers", ("Chinos", "Slim Jeans", "Joggers")),
        ("Shoes", ("Leather Brogues", "Running Trainers", "Chelsea Boots")),
        ("Outerwear", ("Rain Jacket", "Wool Coat", "Gilet")),
    ), ("Harlow & Sons", "Northfield", "Brogue & Co", "Tarn", "Sterling Row", "Ridgeway"),
        ("S", "M", "L", "XL", "32R", "34R", "Navy")),
    CategorySpec("Sports & Outdoors", "sports", False, 0.08, 25.0, 0.8, (
        ("Running", ("Running Shoes", "Running Tights", "Sports Watch")),
        ("Fitness", ("Yoga Mat", "Dumbbells", "Resistance Bands", "Protein Powder")),
        ("Cycling", ("Bike Helmet", "Bike Lights", "Cycling Gloves")),
        ("Camping", ("Tent", "Sleeping Bag", "Camping Stove")),
    ), ("Summit", "Stride", "Peak District Co", "Velo", "Trailhead", "Ironfit", "Coastline"),
        ("S", "M", "L", "2 Person", "4kg", "10kg")),
    CategorySpec("Toys & Games", "toys", False, 0.07, 16.0, 0.7, (
        ("Board Games", ("Family Board Game", "Strategy Game", "Card Game")),
        ("Building Sets", ("Building Set", "Marble Run", "Construction Kit")),
        ("Puzzles", ("1000 Piece Puzzle", "Floor Puzzle", "3D Puzzle")),
        ("Outdoor Play", ("Scooter", "Football", "Paddling Pool")),
    ), ("Brickworks", "Playfair", "Tumble & Co", "Meeple House", "Starboard", "Kiddo"),
        ("Age 3+", "Age 6+", "Age 8+", "Age 12+")),
    CategorySpec("Books & Media", "books", False, 0.07, 9.0, 0.45, (
        ("Fiction", ("Crime Novel", "Fantasy Novel", "Literary Fiction")),
        ("Non-fiction", ("Cookbook", "Biography", "Travel Guide")),
        ("Children's Books", ("Picture Book", "Activity Book", "Early Reader")),
        ("Music & Film", ("Vinyl Record", "Blu-ray", "Audiobook CD")),
    ), ("Quill Press", "Harbour Books", "Foxglove", "Lantern", "Paperjam", "Riverside Media"),
        ("Paperback", "Hardback", "Box Set")),
)

# Search words per category beyond the subcategory names and product nouns.
_EXTRA_QUERIES = {
    "beauty": ("vegan skincare", "gift set", "spf moisturiser"),
    "grocery": ("decaf", "gluten free", "organic"),
    "pet": ("puppy food", "grain free cat food", "dog bed"),
    "baby": ("newborn", "eco nappies", "baby gift"),
    "health": ("vitamin d3", "sensitive toothpaste", "immune support"),
    "electronics": ("noise cancelling", "bluetooth speaker", "usb c charger"),
    "home": ("christmas candle", "egyptian cotton", "air fryer"),
    "womens-fashion": ("winter coat women", "party dress", "white trainers"),
    "mens-fashion": ("mens jeans", "waterproof jacket", "work shirt"),
    "sports": ("marathon", "home gym", "hiking boots"),
    "toys": ("christmas gift kids", "lego", "family games"),
    "books": ("bestsellers", "new releases", "kids books"),
}
_DESCRIPTORS = ("Classic", "Essential", "Premium", "Everyday", "Pro", "Organic", "Deluxe", "Original",
                "Ultra", "Natural", "Signature", "Compact", "Eco", "Select")

UNKNOWN_SKU_BASE = 900_000  # catalog SKU numbers stay below this; dirty rows use numbers above


@dataclass(frozen=True)
class Catalog:
    """All SKUs of the run (those launched inside the window included), in position order."""

    sku: np.ndarray  # object: "SKU-000123"
    sku_num: np.ndarray  # int: 123
    name: np.ndarray
    category: np.ndarray  # int category index
    subcategory: np.ndarray  # object: subcategory name
    brand: np.ndarray  # int global brand index
    price: np.ndarray  # int pence, before any price change
    new_price: np.ndarray  # int pence from `price_change_day` on
    price_change_day: np.ndarray  # window day index, or a large number
    launch_day: np.ndarray  # window day index, negative before the window
    delist_day: np.ndarray  # inactive from this window day on (<= 0: before the window)
    oos_from: np.ndarray  # out of stock on days [oos_from, oos_to)
    oos_to: np.ndarray
    brand_names: np.ndarray  # per global brand index
    brand_category: np.ndarray  # per global brand index: its category
    brand_popularity: np.ndarray  # per global brand index: share within its category
    cell_start: np.ndarray  # per global brand index: first position of its SKUs
    cell_size: np.ndarray
    category_brands: np.ndarray  # [category, j] -> global brand index (padded with the last)
    brand_cdf: np.ndarray  # [category, j] -> cumulative popularity of the category's brands
    replacement: np.ndarray  # [day, position] -> position of a SKU that can be sold that day
    queries: tuple[np.ndarray, ...]  # per category: search texts

    @property
    def n_categories(self) -> int:
        return len(CATEGORIES)

    def available(self, day: int) -> np.ndarray:
        return (
            (self.launch_day <= day)
            & (self.delist_day > day)
            & ~((self.oos_from <= day) & (day < self.oos_to))
        )

    def price_on(self, day: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return np.where(day >= self.price_change_day[pos], self.new_price[pos], self.price[pos])

    def snapshot(self, day: int, window: Window) -> dict[str, np.ndarray]:
        """The `products` rows of one day: every SKU launched so far, listed or not."""
        pos = np.flatnonzero(self.launch_day <= day)
        active = self.delist_day[pos] > day
        in_stock = active & ~((self.oos_from[pos] <= day) & (day < self.oos_to[pos]))
        cats = np.array([c.name for c in CATEGORIES], dtype=object)
        return {
            "sku": self.sku[pos],
            "product_name": self.name[pos],
            "category": cats[self.category[pos]],
            "subcategory": self.subcategory[pos],
            "brand": self.brand_names[self.brand[pos]],
            "price": self.price_on(np.full(len(pos), day), pos),
            "currency": np.full(len(pos), "GBP", dtype=object),
            "in_stock": in_stock,
            "active": active,
            "launched_at": window.start_day + self.launch_day[pos],
            "_sort": self.sku_num[pos],
        }

    def choose(
        self,
        rng: np.random.Generator,
        category: np.ndarray,
        fav_brand: np.ndarray,
        brand_loyalty: np.ndarray,
        price_sensitivity: np.ndarray,
        day: np.ndarray,
    ) -> np.ndarray:
        """Positions of SKUs picked by shoppers: their favourite brand when loyal, else a popular
        brand of the category; cheaper items for price-sensitive shoppers; sellable on `day`."""
        n = len(category)
        brand_local = (rng.random(n)[:, None] > self.brand_cdf[category]).sum(axis=1)
        brand = self.category_brands[category, np.minimum(brand_local, self.category_brands.shape[1] - 1)]
        loyal = (self.brand_category[fav_brand] == category) & (rng.random(n) < brand_loyalty)
        brand = np.where(loyal, fav_brand, brand)
        # Price-sensitive shoppers land on the cheap end of the (price-sorted) brand range.
        u = rng.random(n) ** (0.6 + 2.4 * price_sensitivity)
        pos = self.cell_start[brand] + np.minimum((u * self.cell_size[brand]).astype(np.int64),
                                                  self.cell_size[brand] - 1)
        return self.replacement[day, pos]


def build_catalog(rng: np.random.Generator, n_skus: int, window: Window) -> Catalog:
    """A catalog of about `n_skus` SKUs at the window start plus launches inside the window."""
    k = len(CATEGORIES)
    days = window.days
    n_new = int(round(n_skus * 0.015 * days / 7))
    n_total = n_skus + n_new
    shares = np.array([c.share for c in CATEGORIES])
    category = rng.choice(k, size=n_total, p=shares / shares.sum())

    brand_names: list[str] = []
    brand_category: list[int] = []
    brand_pop: list[float] = []
    brand_tier: list[float] = []
    first_brand = []
    for c, spec in enumerate(CATEGORIES):
        first_brand.append(len(brand_names))
        pop = 1.0 / (np.arange(len(spec.brands)) + 1.5)
        pop = pop / pop.sum()
        for j, b in enumerate(spec.brands):
            brand_names.append(b)
            brand_category.append(c)
            brand_pop.append(float(pop[j]))
            brand_tier.append(float(np.exp(rng.normal(0.0, 0.3))))
    brand_category_a = np.array(brand_category)
    brand_pop_a = np.array(brand_pop)
    brand_tier_a = np.array(brand_tier)

    brand = np.empty(n_total, dtype=np.int64)
    sub_name = np.empty(n_total, dtype=object)
    name = np.empty(n_total, dtype=object)
    price = np.empty(n_total, dtype=np.int64)
    for c, spec in enumerate(CATEGORIES):
        idx = np.flatnonzero(category == c)
        m = len(idx)
        nb = len(spec.brands)
        b_local = rng.choice(nb, size=m, p=brand_pop_a[first_brand[c]: first_brand[c] + nb])
        brand[idx] = first_brand[c] + b_local
        s_local = rng.integers(0, len(spec.subcategories), size=m)
        noun_u = rng.random(m)
        desc = rng.integers(0, len(_DESCRIPTORS), size=m)
        var = rng.integers(0, len(spec.variants), size=m)
        for j, i in enumerate(idx):
            sub, nouns = spec.subcategories[s_local[j]]
            sub_name[i] = sub
            noun = nouns[int(noun_u[j] * len(nouns))]
            name[i] = f"{spec.brands[b_local[j]]} {_DESCRIPTORS[desc[j]]} {noun} {spec.variants[var[j]]}"
        pounds = np.exp(rng.normal(np.log(spec.median_price), spec.price_sigma, size=m)) * brand_tier_a[brand[idx]]
        # Shop prices end in .99 (or .49 below a fiver).
        whole = np.maximum(np.round(pounds), 1).astype(np.int64)
        price[idx] = np.where(whole < 5, whole * 100 - 51, whole * 100 - 1)

    # Positions sorted by (category, brand, price): a brand's SKUs are one price-ordered slice.
    order = np.lexsort((price, brand, category))
    category, brand, sub_name, name, price = category[order], brand[order], sub_name[order], name[order], price[order]
    is_new = np.zeros(n_total, dtype=bool)
    is_new[rng.choice(n_total, size=n_new, replace=False)] = True

    numbers = rng.choice(np.arange(1, min(UNKNOWN_SKU_BASE, max(10 * n_total, 100_000))), size=n_total,
                         replace=False)
    sku = np.array([f"SKU-{x:06d}" for x in numbers], dtype=object)
    launch_day = np.where(is_new, rng.integers(1, max(days, 2), size=n_total),
                          -rng.integers(1, 5 * 365, size=n_total))
    big = np.int64(10**6)
    # A few SKUs were delisted before the window, a few more during it.
    delist_day = np.full(n_total, big)
    u = rng.random(n_total)
    delist_day[(u < 0.03) & ~is_new] = 0
    late = (u >= 0.03) & (u < 0.04)
    delist_day[late] = rng.integers(1, max(days, 2), size=int(late.sum()))
    oos_from = np.full(n_total, big)
    oos_to = np.full(n_total, big)
    oos = rng.random(n_total) < 0.05
    oos_from[oos] = rng.integers(0, days, size=int(oos.sum()))
    oos_to[oos] = oos_from[oos] + rng.integers(2, 10, size=int(oos.sum()))
    change_day = np.full(n_total, big)
    changed = rng.random(n_total) < 0.05
    change_day[changed] = rng.integers(1, max(days, 2), size=int(changed.sum()))
    factor = np.where(rng.random(n_total) < 0.5, 0.85, 1.12)
    new_price = np.maximum(np.round(price * factor / 100).astype(np.int64) * 100 - 1, 49)
    new_price = np.where(changed, new_price, price)

    n_brands = len(brand_names)
    cell_start = np.searchsorted(brand * 1, np.arange(n_brands), side="left")
    cell_end = np.searchsorted(brand * 1, np.arange(n_brands), side="right")
    # `brand` is sorted within category and categories are sorted, and global brand indexes grow
    # with category, so `brand` is globally sorted and searchsorted finds each brand's slice.
    cell_size = cell_end - cell_start
    missing = cell_size == 0
    if missing.any():
        # A brand with no SKU (tiny catalogs) borrows its category's first slice.
        for b in np.flatnonzero(missing):
            c = brand_category_a[b]
            first = int(np.flatnonzero(category == c)[0]) if (category == c).any() else 0
            cell_start[b], cell_size[b] = first, 1

    width = max(len(spec.brands) for spec in CATEGORIES)
    category_brands = np.zeros((k, width), dtype=np.int64)
    brand_cdf = np.ones((k, width))
    for c, spec in enumerate(CATEGORIES):
        b = first_brand[c] + np.arange(len(spec.brands))
        category_brands[c, : len(b)] = b
        category_brands[c, len(b):] = b[-1]
        brand_cdf[c, : len(b)] = np.cumsum(brand_pop_a[b])
    brand_cdf[:, -1] = 1.0

    catalog = Catalog(
        sku=sku, sku_num=numbers.astype(np.int64), name=name, category=category, subcategory=sub_name,
        brand=brand, price=price, new_price=new_price, price_change_day=change_day, launch_day=launch_day,
        delist_day=delist_day, oos_from=oos_from, oos_to=oos_to, brand_names=np.array(brand_names, dtype=object),
        brand_category=brand_category_a, brand_popularity=brand_pop_a, cell_start=cell_start,
        cell_size=cell_size, category_brands=category_brands, brand_cdf=brand_cdf,
        replacement=np.zeros((days, n_total), dtype=np.int64), queries=_queries(),
    )
    for d in range(days):
        catalog.replacement[d] = _replacement(catalog, d)
    return catalog


def _replacement(catalog: Catalog, day: int) -> np.ndarray:
    """For each position, the next sellable SKU of the same brand (else category, else any)."""
    n = len(catalog.sku)
    avail = catalog.available(day)
    out = np.arange(n)
    any_avail = np.flatnonzero(avail)
    for c in range(catalog.n_categories):
        in_cat = np.flatnonzero(catalog.category == c)
        if len(in_cat) == 0:
            continue
        cat_avail = in_cat[avail[in_cat]]
        fallback = cat_avail if len(cat_avail) else any_avail
        for b in np.flatnonzero(catalog.brand_category == c):
            s, m = catalog.cell_start[b], catalog.cell_size[b]
            pos = np.arange(s, s + m)
            pool = pos[avail[pos]]
            if len(pool) == 0:
                pool = fallback
            if len(pool) == 0:
                continue
            out[pos] = pool[np.searchsorted(pool, pos) % len(pool)]
    return out


def _queries() -> tuple[np.ndarray, ...]:
    out = []
    for spec in CATEGORIES:
        words: list[str] = []
        for sub, nouns in spec.subcategories:
            words.append(sub.lower())
            words.extend(n.lower() for n in nouns)
        words.extend(f"{b.lower()} {spec.subcategories[0][1][0].lower()}" for b in spec.brands[:3])
        words.extend(_EXTRA_QUERIES[spec.slug])
        out.append(np.array(words, dtype=object))
    return tuple(out)
