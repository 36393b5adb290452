-- One row per returned line booked up to the as-of day, with the customer_key of the purchase it
-- returns and that purchase line's channel, date, product, units and value. A return carries no
-- id of a person: it belongs to whoever made the purchase, so it takes the purchase line's
-- customer_key (identity resolution keys the order or receipt, not the return).
-- On an incremental day, the touched customers' only (macros/incremental.sql).
{{ returns_sql(ref('int_purchase_lines')) }}
