-- One row per returned line booked up to the as-of day, with the customer_key of the purchase it
-- returns and that purchase line's channel, date, product, units and value. A return carries no
-- id of a person: it belongs to whoever made the purchase, so it takes the purchase line's
-- customer_key (identity resolution keys the order or receipt, not the return).
with returns as (
    select * from {{ ref('stg_silver__returns') }}
),

lines as (
    select * from {{ ref('int_purchase_lines') }}
),

final as (
    select
        l.customer_key,
        r.return_id,
        r.line_no,
        r.purchase_id,
        l.channel,
        l.purchase_date,
        r.return_date,
        r.sku,
        l.category,
        l.brand,
        l.quantity as bought_quantity,
        r.quantity as returned_quantity,
        l.net_amount as line_net_amount,
        r.refund_amount,
        r.reason
    from returns as r
    -- Inner: a return of a line dbt does not see as bought (its order header lost to quarantine)
    -- has no customer and no purchase to net against.
    inner join lines as l on l.purchase_id = r.purchase_id and l.line_no = r.line_no
)

select * from final
