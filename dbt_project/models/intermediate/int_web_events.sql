-- One row per clickstream event with the customer_key of its cookie (null: an anonymous cookie
-- identity resolution could not place). On an incremental day, the touched customers' events only.
with events as (
    select * from {{ ref('stg_silver__web_events') }}
),

identity_map as (
    select * from {{ day_identity_map() }} where record_source = 'web_events'
),

final as (
    select
        m.customer_key,
        e.event_id,
        e.event_ts,
        e.event_date,
        e.event_type,
        e.cookie_id,
        e.session_id,
        e.device,
        e.sku
    from events as e
    {{ 'inner' if incremental_day() else 'left' }} join identity_map as m on m.record_key = e.cookie_id
)

select * from final
