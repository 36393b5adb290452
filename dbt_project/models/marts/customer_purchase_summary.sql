-- One row per customer_key with a purchase up to the as-of day: the summary the lifetime value
-- models score (jobs/customers/clv.py). The columns are those of the purchase_summary macro.
-- On an incremental day the touched customers are computed and the others carried, `t_days` counted again.
with purchases as (
    select * from {{ ref('int_purchases') }} where identified
),

returns as (
    select * from {{ ref('int_returns') }}
),

summary as (
    {{ purchase_summary('purchases', 'returns', as_of_date()) }}
),

final as (
    select
        customer_key,
        {{ as_of_date() }} as as_of_date,
        first_purchase_date,
        last_purchase_date,
        frequency,
        recency_days,
        t_days,
        monetary_value,
        total_value
    from summary
)

{{ with_carried('final', {
    'as_of_date': as_of_date(),
    't_days': 'datediff(' ~ as_of_date() ~ ', carried.first_purchase_date)'
}) }}
