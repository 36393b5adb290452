-- One row per customer_key in the active base (a purchase, online or in store, in the last
-- `rfm_active_days` days up to the as-of day): recency, frequency, monetary and their 1-5 scores.
--
-- Scores are quintiles over the active base by percent rank: ties share a score (every
-- one-time buyer gets the same F), and a higher score is better (more recent, more often, more spend).
with purchases as (
    select * from {{ ref('int_purchases') }}
),

active as (
    select
        customer_key,
        max(purchase_date) as last_purchase_date,
        count(distinct purchase_id) as frequency,
        sum(net_amount) as monetary
    from purchases
    where {{ within_days('purchase_date', var('rfm_active_days')) }}
    group by customer_key
),

scored as (
    select
        customer_key,
        last_purchase_date,
        datediff({{ as_of_date() }}, last_purchase_date) as recency_days,
        frequency,
        cast(monetary as decimal(14, 2)) as monetary,
        {{ quintile_score('last_purchase_date') }} as r_score,
        {{ quintile_score('frequency') }} as f_score,
        {{ quintile_score('monetary') }} as m_score
    from active
),

final as (
    select
        *,
        cast(round((f_score + m_score) / 2.0) as int) as fm_score,
        concat(r_score, f_score, m_score) as rfm_score
    from scored
)

select * from final
