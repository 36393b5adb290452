-- One row per online order placed on or before the as-of day.
with source as (
    select * from {{ source('silver', 'orders') }}
),

final as (
    select
        order_id,
        channel,
        order_ts,
        to_date(order_ts) as order_date,
        cast(order_total as decimal(14, 2)) as order_total
    from source
    where {{ up_to_as_of('order_ts') }}
)

select * from final
