{#- The purchase lines' and returns' SQL, for the intermediate models and for product_features,
    which on an incremental day computes them over every customer (`identity_map`: the relation
    that keys them; `lines`: the purchase lines). -#}

{#- One row per purchased line with its customer_key and product (int_purchase_lines). -#}
{% macro purchase_lines_sql(identity_map) -%}
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
      select * from {{ identity_map }}
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
{%- endmacro %}

{#- One row per returned line with its purchase line's customer and attributes (int_returns); `lines`: int_purchase_lines' rows. -#}
{% macro returns_sql(lines) -%}
  with returned as (
      select * from {{ ref('stg_silver__returns') }}
  ),

  bought as (
      select * from {{ lines }}
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
      from returned as r
      -- Inner: a return of a line dbt does not see as bought (its order header lost to quarantine)
      -- has no customer and no purchase to net against.
      inner join bought as l on l.purchase_id = r.purchase_id and l.line_no = r.line_no
  )

  select * from final
{%- endmacro %}
