-- One row per customer_key in the active base (a purchase, online or in store, in the last
-- `rfm_active_days` days up to the as-of day): recency, frequency, monetary and their 1-5 scores.
--
-- Monetary is net spend: the active purchases after discounts, minus the refunds booked up to
-- the as-of day on those purchases (a purchase's date puts it and its refunds in the window).
-- A purchase returned in full still counts towards frequency: the customer did buy.
--
-- Scores are quintiles over the active base by percent rank: ties share a score (every
-- one-time buyer gets the same F), and a higher score is better (more recent, more often, more spend).
-- On an incremental day the purchases are the touched customers'; the others' recency, frequency
-- and monetary come from gold.customer_rfm as the last build left it, and every score is new.
with purchases as (
    select * from {{ ref('int_purchases') }}
),

refunds as (
    select
        purchase_id,
        sum(refund_amount) as refund_amount
    from {{ ref('int_returns') }}
    group by purchase_id
),

active as (
    select
        p.customer_key,
        max(p.purchase_date) as last_purchase_date,
        count(distinct p.purchase_id) as frequency,
        sum(p.net_amount) as monetary_before_refunds,
        coalesce(sum(r.refund_amount), 0) as refunds
    from purchases as p
    left join refunds as r on r.purchase_id = p.purchase_id
    where {{ within_days('p.purchase_date', var('rfm_active_days')) }}
    group by p.customer_key
    {%- if incremental_day() %}
    -- The customers the day did not touch: as gold.customer_rfm holds them (the scores are
    -- computed again below, over the whole active base).
    union all
    select customer_key, last_purchase_date, frequency, monetary_before_refunds, refunds
    from ({{ carried_rows(relation=api.Relation.create(schema=target.schema, identifier='customer_rfm')) }}) as carried_base
    {%- endif %}
),

scored as (
    select
        customer_key,
        last_purchase_date,
        datediff({{ as_of_date() }}, last_purchase_date) as recency_days,
        frequency,
        cast(monetary_before_refunds - refunds as decimal(14, 2)) as monetary,
        cast(monetary_before_refunds as decimal(14, 2)) as monetary_before_refunds,
        cast(refunds as decimal(14, 2)) as refunds,
        {{ quintile_score('last_purchase_date') }} as r_score,
        {{ quintile_score('frequency') }} as f_score,
        {{ quintile_score('monetary_before_refunds - refunds') }} as m_score
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
