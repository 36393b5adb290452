{#- The lifetime value models' summary as of `cutoff` (a date expression): one row per customer_key
    with a purchase up to that day. Purchases count in purchase days (two receipts on one day are
    one purchase, as in the buy-till-you-die literature); a purchase day's value is its net spend
    minus the refunds booked up to `cutoff` on those purchases, floored at 0. Columns:
    customer_key, first/last_purchase_date, frequency (repeat purchase days), recency_days,
    t_days, monetary_value (mean value of the repeat purchase days), total_value. -#}
{% macro purchase_summary(purchases, returns, cutoff) -%}
  select
    customer_key,
    min(purchase_date) as first_purchase_date,
    max(purchase_date) as last_purchase_date,
    count(*) - 1 as frequency,
    datediff(max(purchase_date), min(purchase_date)) as recency_days,
    datediff({{ cutoff }}, min(purchase_date)) as t_days,
    cast(coalesce(avg(case when day_number > 1 then day_value end), 0) as decimal(14, 2)) as monetary_value,
    cast(sum(day_value) as decimal(16, 2)) as total_value
  from (
    select
      *,
      row_number() over (partition by customer_key order by purchase_date) as day_number
    from (
      select
        p.customer_key,
        p.purchase_date,
        greatest(sum(p.net_amount - coalesce(r.refund_amount, 0)), 0) as day_value
      from {{ purchases }} as p
      left join (
        select purchase_id, sum(refund_amount) as refund_amount
        from {{ returns }}
        where return_date <= {{ cutoff }}
        group by purchase_id
      ) as r on r.purchase_id = p.purchase_id
      where p.purchase_date <= {{ cutoff }}
      group by p.customer_key, p.purchase_date
    ) as purchase_days
  ) as numbered
  group by customer_key
{%- endmacro %}
