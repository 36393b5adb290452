{#- The event tables' SQL, for the intermediate models and for the product and campaign marts,
    which on an incremental day compute them over every customer (`identity_map`: the relation
    that keys them). -#}

{#- One row per purchase with its customer_key and totals (int_purchases). -#}
{% macro purchases_sql(identity_map) -%}
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
      select * from {{ identity_map }}
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
{%- endmacro %}

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

{#- One row per email event with the customer_key of its address (int_email_events). -#}
{% macro email_events_sql(identity_map) -%}
  with events as (
      select * from {{ ref('stg_silver__email_events') }}
  ),

  identity_map as (
      select * from {{ identity_map }} where record_source = 'email_events'
  ),

  final as (
      select
          m.customer_key,
          e.event_id,
          e.event_ts,
          e.event_date,
          e.event_type,
          e.campaign_id
      from events as e
      inner join identity_map as m on m.record_key = e.email
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
