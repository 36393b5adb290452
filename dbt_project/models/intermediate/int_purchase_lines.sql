-- One row per purchased line, online and in store, with the buyer's customer_key and the product.
with orders as (
    select * from {{ ref('stg_silver__orders') }}
),

order_lines as (
    select * from {{ ref('stg_silver__order_lines') }}
),

pos as (
    select * from {{ ref('stg_silver__pos_transactions') }}
),

products as (
    select * from {{ ref('stg_silver__products') }}
),

identity_map as (
    select * from {{ ref('stg_silver__identity_map') }}
),

online as (
    select
        concat('order:', o.order_id) as purchase_id,
        'orders' as record_source,
        o.order_id as record_key,
        o.channel,
        o.order_ts as purchase_ts,
        o.order_date as purchase_date,
        l.line_no,
        l.sku,
        l.quantity,
        l.gross_amount,
        l.discount_amount,
        l.net_amount
    from orders as o
    inner join order_lines as l on l.order_id = o.order_id
),

store as (
    select
        concat('receipt:', transaction_id) as purchase_id,
        'pos_transactions' as record_source,
        transaction_id as record_key,
        'store' as channel,
        transaction_ts as purchase_ts,
        transaction_date as purchase_date,
        line_no,
        sku,
        quantity,
        gross_amount,
        discount_amount,
        net_amount
    from pos
),

lines as (
    select * from online
    union all
    select * from store
),

final as (
    select
        m.customer_key,
        lines.purchase_id,
        lines.channel,
        lines.purchase_ts,
        lines.purchase_date,
        lines.line_no,
        lines.sku,
        p.category,
        p.brand,
        lines.quantity,
        lines.gross_amount,
        lines.discount_amount,
        lines.net_amount
    from lines
    inner join identity_map as m
        on m.record_source = lines.record_source and m.record_key = lines.record_key
    left join products as p on p.sku = lines.sku
)

select * from final
