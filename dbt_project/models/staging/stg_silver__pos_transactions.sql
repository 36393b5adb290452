-- One row per till receipt line rung up on or before the as-of day.
with source as (
    select * from {{ source('silver', 'pos_transactions') }}
),

final as (
    select
        transaction_id,
        line_no,
        store_id,
        transaction_ts,
        to_date(transaction_ts) as transaction_date,
        sku,
        quantity,
        cast(unit_price * quantity as decimal(14, 2)) as gross_amount,
        cast(discount as decimal(14, 2)) as discount_amount,
        cast(line_amount as decimal(14, 2)) as net_amount
    from source
    where {{ up_to_as_of('transaction_ts') }}
)

select * from final
