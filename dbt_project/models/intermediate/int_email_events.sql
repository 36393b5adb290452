-- One row per email event with the customer_key of its address.
-- On an incremental day, the touched customers' only (macros/incremental.sql).
with events as (
    select * from {{ ref('stg_silver__email_events') }}
),

identity_map as (
    select * from {{ day_identity_map() }} where record_source = 'email_events'
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
