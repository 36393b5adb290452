-- One row per customer_key in the active base, as of the `as_of` day: recency, frequency,
-- monetary (net of refunds), R/F/M scores 1-5, the three-digit rfm_score ('545') and the
-- standard segment; `monetary_before_refunds` and `refunds` show the netting.
with scores as (
    select * from {{ ref('int_customer_rfm_scores') }}
),

final as (
    select
        s.customer_key,
        {{ as_of_date() }} as as_of_date,
        s.last_purchase_date,
        s.recency_days,
        s.frequency,
        s.monetary,
        s.r_score,
        s.f_score,
        s.m_score,
        s.fm_score,
        s.rfm_score,
        {{ rfm_segment('s.r_score', 's.fm_score') }} as rfm_segment,
        s.monetary_before_refunds,
        s.refunds
    from scores as s
)

select * from final
