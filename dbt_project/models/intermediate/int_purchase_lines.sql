-- One row per purchased line, online and in store, with the buyer's customer_key and the product.
-- On an incremental day, the touched customers' only (macros/incremental.sql).
{{ purchase_lines_sql(day_identity_map()) }}
