-- One row per returned line booked on or before the as-of day, with the purchase it returns:
-- `purchase_id` as int_purchases names it, and the purchase's record in silver.identity_map
-- (`record_source`, `record_key`), which gives the return its customer.
--
-- Returns come back days after the first purchases, and silver writes no table for a source
-- before its first row: until then the features are built as if nothing had come back.
{%- set returns = source('silver', 'returns') %}
{%- set landed = adapter.get_relation(database=returns.database, schema=returns.schema, identifier=returns.identifier) %}
with source as (
    {%- if landed is not none %}
    select * from {{ returns }}
    {%- else %}
    select
        cast(null as string) as return_id,
        cast(null as int) as line_no,
        cast(null as string) as channel,
        cast(null as string) as order_id,
        cast(null as string) as transaction_id,
        cast(null as string) as sku,
        cast(null as int) as quantity,
        cast(null as decimal(12, 2)) as refund_amount,
        cast(null as string) as reason,
        cast(null as timestamp) as returned_at
    where false
    {%- endif %}
),

final as (
    select
        return_id,
        line_no,
        channel as return_channel,
        case channel
            when 'online' then concat('order:', order_id)
            when 'store' then concat('receipt:', transaction_id)
        end as purchase_id,
        case channel when 'online' then 'orders' when 'store' then 'pos_transactions' end as record_source,
        coalesce(order_id, transaction_id) as record_key,
        sku,
        quantity,
        cast(refund_amount as decimal(14, 2)) as refund_amount,
        reason,
        returned_at,
        to_date(returned_at) as return_date
    from source
    where {{ up_to_as_of('returned_at') }}
)

select * from final
