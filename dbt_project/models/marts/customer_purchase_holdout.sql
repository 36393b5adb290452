-- One row per customer_key with a purchase up to the calibration end (the as-of day minus
-- `clv_holdout_days`): the summary as it stood then, and what the customer bought in the holdout
-- days after it, up to the as-of day. The lifetime value models train on the calibration
-- columns and are judged on the holdout ones (jobs/customers/train_clv.py). A training mart
-- (tag `training`): built by the weekly build_training_features, not by the daily build.
{{ config(tags=['training']) }}

with purchases as (
    select * from {{ ref('int_purchases') }} where identified
),

returns as (
    select * from {{ ref('int_returns') }}
),

calibration as (
    {{ purchase_summary('purchases', 'returns', calibration_end()) }}
),

holdout as (
    select
        customer_key,
        count(distinct purchase_date) as holdout_purchases,
        sum(net_amount) as holdout_value
    from purchases
    where purchase_date > {{ calibration_end() }}
    group by customer_key
),

final as (
    select
        c.customer_key,
        {{ calibration_end() }} as calibration_end,
        {{ as_of_date() }} as as_of_date,
        c.frequency,
        c.recency_days,
        c.t_days,
        c.monetary_value,
        coalesce(h.holdout_purchases, 0) as holdout_purchases,
        cast(coalesce(h.holdout_value, 0) as decimal(16, 2)) as holdout_value
    from calibration as c
    left join holdout as h on h.customer_key = c.customer_key
)

select * from final
