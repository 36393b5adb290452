-- One row per line of an online order (the order's date filter is applied in intermediate).
with source as (
    select * from {{ source('silver', 'order_lines') }}
),

final as (
    select
        order_id,
        line_no,
        sku,
        quantity,
        cast(unit_price * quantity as decimal(14, 2)) as gross_amount,
        cast(discount as decimal(14, 2)) as discount_amount,
        cast(line_amount as decimal(14, 2)) as net_amount
    from source
)

select * from final
