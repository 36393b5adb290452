-- One row per purchase (an online order or a till receipt) with its customer_key and totals.
-- An online order counts even when its lines are missing (quarantined): its header total stands in.
-- `identified`: the customer_key is a known customer (a CRM, web account, loyalty, order or email
-- record, or an email on a receipt), not a till receipt nobody can be linked to (each such receipt
-- is a key of its own). The customer models learn from identified customers only.
-- On an incremental day, the touched customers' only (macros/incremental.sql).
with orders as (
    select * from {{ ref('stg_silver__orders') }}
),

order_lines as (
    select
        order_id,
        count(*) as lines,
        sum(quantity) as units,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount,
        sum(net_amount) as net_amount
    from {{ ref('stg_silver__order_lines') }}
    group by order_id
),

pos as (
    select
        transaction_id,
        min(transaction_ts) as transaction_ts,
        min(transaction_date) as transaction_date,
        count(*) as lines,
        sum(quantity) as units,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount,
        sum(net_amount) as net_amount
    from {{ ref('stg_silver__pos_transactions') }}
    group by transaction_id
),

identity_map as (
    select * from {{ day_identity_map() }}
),

identified_keys as (
    select customer_key
    from identity_map
    group by customer_key
    having max(case when record_source not in ('pos_transactions', 'web_events') or email_match_key is not null
                    then 1 else 0 end) = 1
),

online as (
    select
        concat('order:', o.order_id) as purchase_id,
        'orders' as record_source,
        o.order_id as record_key,
        o.channel,
        o.order_ts as purchase_ts,
        o.order_date as purchase_date,
        coalesce(l.lines, 0) as lines,
        coalesce(l.units, 0) as units,
        coalesce(l.gross_amount, o.order_total) as gross_amount,
        coalesce(l.discount_amount, 0) as discount_amount,
        coalesce(l.net_amount, o.order_total) as net_amount
    from orders as o
    left join order_lines as l on l.order_id = o.order_id
),

store as (
    select
        concat('receipt:', transaction_id) as purchase_id,
        'pos_transactions' as record_source,
        transaction_id as record_key,
        'store' as channel,
        transaction_ts as purchase_ts,
        transaction_date as purchase_date,
        lines,
        units,
        gross_amount,
        discount_amount,
        net_amount
    from pos
),

purchases as (
    select * from online
    union all
    select * from store
),

final as (
    select
        m.customer_key,
        p.purchase_id,
        p.channel,
        p.purchase_ts,
        p.purchase_date,
        p.lines,
        p.units,
        cast(p.gross_amount as decimal(14, 2)) as gross_amount,
        cast(p.discount_amount as decimal(14, 2)) as discount_amount,
        cast(p.net_amount as decimal(14, 2)) as net_amount,
        k.customer_key is not null as identified
    from purchases as p
    inner join identity_map as m
        on m.record_source = p.record_source and m.record_key = p.record_key
    left join identified_keys as k on k.customer_key = m.customer_key
)

select * from final
