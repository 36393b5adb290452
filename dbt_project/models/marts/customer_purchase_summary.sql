-- One row per customer_key with a purchase up to the as-of day: the summary the lifetime value
-- models take (jobs/customers/clv.py). Purchases are counted in purchase days (two receipts on
-- one day are one purchase, as in the buy-till-you-die literature); a purchase day's value is
-- its net spend minus the refunds booked up to the as-of day on those purchases, floored at 0.
with purchases as (
    select * from {{ ref('int_purchases') }}
),

returns as (
    select * from {{ ref('int_returns') }}
),

refunds as (
    select
        purchase_id,
        sum(refund_amount) as refund_amount
    from returns
    group by purchase_id
),

purchase_days as (
    select
        p.customer_key,
        p.purchase_date,
        greatest(sum(p.net_amount - coalesce(r.refund_amount, 0)), 0) as day_value
    from purchases as p
    left join refunds as r on r.purchase_id = p.purchase_id
    group by p.customer_key, p.purchase_date
),

numbered as (
    select
        *,
        row_number() over (partition by customer_key order by purchase_date) as day_number
    from purchase_days
),

final as (
    select
        customer_key,
        {{ as_of_date() }} as as_of_date,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) - 1 as frequency,
        datediff(max(purchase_date), min(purchase_date)) as recency_days,
        datediff({{ as_of_date() }}, min(purchase_date)) as t_days,
        cast(coalesce(avg(case when day_number > 1 then day_value end), 0) as decimal(14, 2)) as monetary_value,
        cast(sum(day_value) as decimal(16, 2)) as total_value
    from numbered
    group by customer_key
)

select * from final
