-- One row per customer_key per as-of day: the RFM state of every day a build ran for.
-- Grows by day (merge on customer_key, as_of_date); a rebuild of a day first removes that
-- day's rows, so a customer who left the active base (or a key merged away) leaves no stale row.
{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['customer_key', 'as_of_date'],
        pre_hook="{% if is_incremental() %}delete from {{ this }} where as_of_date = {{ as_of_date() }}{% endif %}"
    )
}}

with rfm as (
    select * from {{ ref('customer_rfm') }}
),

final as (
    select
        customer_key,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        rfm_score,
        rfm_segment
    from rfm
)

select * from final
